/**
 * The Attribution Graph view: a prompt's attribution graph (circuit-tracer's method) drawn as
 * features by layer (rows, logits on top, embeddings at the bottom) and position (columns), with
 * error nodes, embeddings and logits; edges with width |w| and colour by sign. One tab stop enters
 * the graph; arrow keys move between nodes (along a row, or to the nearest node above or below),
 * Home/End jump along the row, Enter pins or unpins. Hovering or focusing a node shows its details:
 * a feature's activation across the prompt and its top logits (from the features of the same
 * prompt), its strongest inputs and outputs. Pinned nodes can be grouped into named supernodes;
 * the pinned subgraph lists the summed edges between them. Threshold sliders rebuild the graph when
 * the host can; the scores are in the subtitle; exports: SVG, PNG, and circuit-tracer's graph JSON
 * with the pins and supernodes.
 */
import './attribution-graph.css';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { AttributionGraphResult, GraphNode } from '../../../../protocol/attribution-graph-run.js';
import type { FeaturesResult } from '../../../../protocol/features.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { toHex } from '../../shared/colour.js';
import { formatSigned, tokenLabel, truncateLabel } from '../../shared/format.js';
import { featureProfile } from '../features/features-model.js';
import {
  describeNode,
  edgeStroke,
  groupPinned,
  layoutGraph,
  maxAbsWeight,
  moveFocus,
  NO_PINS,
  nodeLinks,
  nodeShortName,
  pinnedSubgraph,
  prunePins,
  qParams,
  supernodeOf,
  togglePin,
  ungroup,
  type NavKey,
  type PinState,
} from './graph-model.js';
import { graphCaption, graphSvg, nodeFill, NODE_RADIUS } from './graph-svg.js';

const NAV_KEYS: ReadonlySet<string> = new Set<NavKey>(['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End']);
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The features result of the same prompt (same token ids), for a feature's profile. */
function sameprompt(graph: AttributionGraphResult, features: FeaturesResult | null): FeaturesResult | null {
  if (!features || features.tokens.length !== graph.ids.length) return null;
  return features.tokens.every((t, i) => t.id === graph.ids[i]) ? features : null;
}

function NodeDetails(props: { graph: AttributionGraphResult; node: GraphNode; features: FeaturesResult | null; byId: Map<string, GraphNode> }) {
  const { graph, node } = props;
  const links = useMemo(() => nodeLinks(graph, node.id), [graph, node.id]);
  const profile = node.kind === 'feature' && props.features ? featureProfile(props.features, node.layer!, node.index!) : null;
  const name = (id: string) => {
    const n = props.byId.get(id);
    return n ? `${nodeShortName(n)} @${n.position}` : id;
  };
  return (
    <div class="graph-details" aria-live="polite">
      <div class="graph-details-title">{describeNode(node, graph.tokens)}</div>
      {node.influence !== null && <div>cumulative influence {node.influence.toFixed(3)}</div>}
      {profile && (
        <>
          <div class="graph-details-caption">Activation across the prompt</div>
          <ol class="graph-activations">
            {profile.activations.map((a, p) => (
              <li class={p === node.position ? 'current' : ''} title={`${p}: ${a.toFixed(3)}`}>
                <span class="token">{truncateLabel(tokenLabel(graph.tokens[p] ?? ''), 10)}</span> {a > 0 ? a.toFixed(2) : '·'}
              </li>
            ))}
          </ol>
          {profile.top.length > 0 && (
            <div>
              Top logits: {profile.top.map((t) => `${JSON.stringify(tokenLabel(t.token))} ${formatSigned(t.effect)}`).join(', ')}
              {profile.bottom.length > 0 && (
                <> · bottom: {profile.bottom.map((t) => `${JSON.stringify(tokenLabel(t.token))} ${formatSigned(t.effect)}`).join(', ')}</>
              )}
            </div>
          )}
        </>
      )}
      {node.kind === 'feature' && !profile && <div class="graph-details-caption">Run Show Features on this prompt for its activations and top logits.</div>}
      {links.incoming.length > 0 && <div>From: {links.incoming.map((l) => `${name(l.node)} ${formatSigned(l.weight)}`).join(', ')}</div>}
      {links.outgoing.length > 0 && <div>To: {links.outgoing.map((l) => `${name(l.node)} ${formatSigned(l.weight)}`).join(', ')}</div>}
    </div>
  );
}

export function AttributionGraphView() {
  const { state, palette, actions } = useLab();
  const shown = state.features.graph;
  const graph = shown?.graph ?? null;
  const busy = state.features.busy.graph;
  const [pins, setPins] = useState<PinState>(NO_PINS);
  const [focused, setFocused] = useState<string | null>(null);
  const [hovered, setHovered] = useState<string | null>(null);
  const [chosen, setChosen] = useState<string[]>([]);
  const [groupName, setGroupName] = useState('');
  const [groupError, setGroupError] = useState<string | null>(null);
  const [thresholds, setThresholds] = useState({ node: 0.8, edge: 0.98 });
  const [runError, setRunError] = useState<string | null>(null);

  useEffect(() => {
    if (!graph) return;
    setPins((p) => prunePins(p, graph));
    setChosen([]);
    setThresholds({ node: graph.nodeThreshold, edge: graph.edgeThreshold });
    setFocused((f) => (f !== null && graph.nodes.some((n) => n.id === f) ? f : null));
  }, [graph]);

  const layout = useMemo(() => (graph ? layoutGraph(graph) : null), [graph]);
  const maxAbs = useMemo(() => (graph ? maxAbsWeight(graph.links) : 1), [graph]);
  const byId = useMemo(() => new Map((graph?.nodes ?? []).map((n) => [n.id, n])), [graph]);
  const subgraph = useMemo(() => (graph ? pinnedSubgraph(graph, pins) : { units: [], edges: [] }), [graph, pins]);
  const features = graph ? sameprompt(graph, state.features.result) : null;
  const active = hovered ?? focused;
  const activeNode = active !== null ? byId.get(active) : undefined;
  const tabStop = focused ?? layout?.rowOrder.find((r) => r.length > 0)?.[0] ?? null;

  const focusNode = (id: string | null) => {
    setFocused(id);
    if (id !== null) (document.getElementById(`graph-node-${id}`) as SVGElement | null)?.focus();
  };
  const onKey = (e: KeyboardEvent, id: string) => {
    if (!layout) return;
    if (NAV_KEYS.has(e.key)) {
      e.preventDefault();
      focusNode(moveFocus(layout, id, e.key as NavKey));
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      setPins((p) => togglePin(p, id));
    }
  };
  const group = () => {
    const r = groupPinned(pins, chosen, groupName);
    if (!r.ok) return setGroupError(r.error);
    setPins(r.state);
    setChosen([]);
    setGroupName('');
    setGroupError(null);
  };
  const rebuild = async () => {
    setRunError(null);
    try {
      await actions.rebuildGraph(thresholds.node, thresholds.edge);
    } catch (error) {
      setRunError(errorText(error));
    }
  };
  const exportJson = async () => {
    setRunError(null);
    try {
      await actions.exportGraph(qParams(pins));
    } catch (error) {
      setRunError(errorText(error));
    }
  };
  const svg = () => (graph && layout ? graphSvg(graph, layout, pins, palette) : '');

  return (
    <ViewFrame
      view="attributionGraph"
      drawn={graph !== null}
      subtitle={graph ? `${shown!.dictionaryName} · ${graphCaption(graph)}` : ''}
      exporter={{ svg, png: async () => svgPng(svg(), Math.max(layout?.width ?? 1, 560), (layout?.height ?? 1) + 16) }}
      controls={
        shown?.canExportJson ? (
          <button
            type="button"
            class="icon-button"
            aria-label="Export the graph as circuit-tracer JSON"
            title="Export circuit-tracer JSON"
            onClick={() => void exportJson()}
          >
            <span class="codicon codicon-json" aria-hidden="true" />
          </button>
        ) : undefined
      }
    >
      {!graph || !layout ? (
        <div class="placeholder">
          {busy
            ? 'Building the attribution graph…'
            : 'No attribution graph yet: load transcoders with "Load Dictionary…", then run "Circuit Trace: Attribution Graph" on a prompt.'}
        </div>
      ) : (
        <div class="graph-layout">
          <div class="graph-scroll">
            <svg
              width={layout.width}
              height={layout.height}
              class="attribution-graph"
              role="group"
              aria-label={`Attribution graph: ${graph.nodes.length} nodes, ${graph.links.length} edges. Arrow keys move between nodes, Enter pins.`}
            >
              {layout.rowLabels.map((label, r) => (
                <text x={6} y={layout.rowHeight * r + layout.rowHeight / 2 + 12} class="graph-row-label" aria-hidden="true">
                  {label}
                </text>
              ))}
              {graph.tokens.map((t, p) => (
                <text x={layout.left + (p + 0.5) * layout.columnWidth} y={layout.height - 10} text-anchor="middle" class="graph-token" aria-hidden="true">
                  {truncateLabel(tokenLabel(t), 12)}
                </text>
              ))}
              <g aria-hidden="true">
                {graph.links.map((l) => {
                  const s = layout.byId.get(l.source);
                  const t = layout.byId.get(l.target);
                  if (!s || !t) return null;
                  const stroke = edgeStroke(l.weight, maxAbs);
                  const lit = active !== null && (l.source === active || l.target === active);
                  return (
                    <line
                      x1={s.x}
                      y1={s.y}
                      x2={t.x}
                      y2={t.y}
                      stroke={toHex(stroke.positive ? palette.positive : palette.negative)}
                      stroke-width={stroke.width}
                      stroke-opacity={active === null ? stroke.opacity : lit ? 1 : 0.08}
                    />
                  );
                })}
              </g>
              {layout.placed.map((p) => {
                const id = p.node.id;
                const pinned = pins.pinned.includes(id);
                const group = supernodeOf(pins, id);
                const label = `${describeNode(p.node, graph.tokens)}${pinned ? ', pinned' : ''}${group ? `, in supernode ${group.name}` : ''}`;
                const shapeProps = {
                  fill: nodeFill(p.node.kind, palette),
                  stroke: pinned || id === focused ? toHex(palette.accent) : 'none',
                  'stroke-width': pinned ? 2.5 : 1.5,
                };
                return (
                  <g
                    id={`graph-node-${id}`}
                    class={`graph-node graph-node-${p.node.kind}${pinned ? ' pinned' : ''}`}
                    tabIndex={id === tabStop ? 0 : -1}
                    role="button"
                    aria-pressed={pinned}
                    aria-label={label}
                    onFocus={() => setFocused(id)}
                    onMouseEnter={() => setHovered(id)}
                    onMouseLeave={() => setHovered(null)}
                    onClick={() => {
                      setFocused(id);
                      setPins((s) => togglePin(s, id));
                    }}
                    onKeyDown={(e) => onKey(e, id)}
                  >
                    {p.node.kind === 'feature' ? (
                      <circle cx={p.x} cy={p.y} r={NODE_RADIUS} {...shapeProps} />
                    ) : (
                      <rect x={p.x - NODE_RADIUS} y={p.y - NODE_RADIUS} width={2 * NODE_RADIUS} height={2 * NODE_RADIUS} {...shapeProps} />
                    )}
                    {group && (
                      <text x={p.x} y={p.y - NODE_RADIUS - 3} text-anchor="middle" class="graph-supernode-label">
                        {truncateLabel(group.name, 16)}
                      </text>
                    )}
                  </g>
                );
              })}
            </svg>
          </div>
          <aside class="graph-side" aria-label="Graph details, pins and thresholds">
            {activeNode ? (
              <NodeDetails graph={graph} node={activeNode} features={features} byId={byId} />
            ) : (
              <div class="graph-details graph-details-caption">Hover or focus a node for its details.</div>
            )}
            <div class="graph-scores">
              <div>
                Replacement score <strong>{graph.replacementScore.toFixed(3)}</strong>
              </div>
              <div>
                Completeness score <strong>{graph.completenessScore.toFixed(3)}</strong>
              </div>
              <div class="graph-details-caption">
                {graph.counts.visitedFeatures} of {graph.counts.activeFeatures} active features visited; {graph.counts.keptNodes} nodes and{' '}
                {graph.counts.keptLinks} edges kept.
              </div>
            </div>
            <fieldset class="graph-thresholds" disabled={!shown!.canRebuild || busy}>
              <legend>Pruning</legend>
              <label class="field">
                <span>Node threshold {thresholds.node.toFixed(2)}</span>
                <input
                  type="range"
                  min={0.5}
                  max={1}
                  step={0.01}
                  value={thresholds.node}
                  aria-label="Node threshold: share of influence kept"
                  onInput={(e) => setThresholds({ ...thresholds, node: Number((e.target as HTMLInputElement).value) })}
                />
              </label>
              <label class="field">
                <span>Edge threshold {thresholds.edge.toFixed(2)}</span>
                <input
                  type="range"
                  min={0.5}
                  max={1}
                  step={0.01}
                  value={thresholds.edge}
                  aria-label="Edge threshold: share of influence kept"
                  onInput={(e) => setThresholds({ ...thresholds, edge: Number((e.target as HTMLInputElement).value) })}
                />
              </label>
              <button type="button" class="primary" onClick={() => void rebuild()}>
                <span class={`codicon ${busy ? 'codicon-loading codicon-modifier-spin' : 'codicon-refresh'}`} aria-hidden="true" />{' '}
                {busy ? 'Building…' : 'Rebuild with these thresholds'}
              </button>
            </fieldset>
            {runError && (
              <div class="form-error" role="alert">
                {runError}
              </div>
            )}
            <div class="graph-pins">
              <div class="graph-details-caption">Pinned nodes (Enter or click on a node pins it)</div>
              {pins.pinned.length === 0 && <div class="graph-details-caption">None yet.</div>}
              <ul>
                {pins.pinned.map((id) => {
                  const node = byId.get(id);
                  const group = supernodeOf(pins, id);
                  return (
                    <li>
                      <label>
                        <input
                          type="checkbox"
                          checked={chosen.includes(id)}
                          onChange={(e) => setChosen((c) => ((e.target as HTMLInputElement).checked ? [...c, id] : c.filter((x) => x !== id)))}
                        />{' '}
                        {node ? `${nodeShortName(node)} @${node.position}` : id}
                        {group ? ` · ${group.name}` : ''}
                      </label>
                      <button
                        type="button"
                        class="icon-button"
                        aria-label={`Unpin ${node ? nodeShortName(node) : id}`}
                        onClick={() => setPins((s) => togglePin(s, id))}
                      >
                        <span class="codicon codicon-pinned" aria-hidden="true" />
                      </button>
                    </li>
                  );
                })}
              </ul>
              <label class="field">
                <span>Supernode name</span>
                <input type="text" value={groupName} placeholder="e.g. say a capital" onInput={(e) => setGroupName((e.target as HTMLInputElement).value)} />
              </label>
              <button type="button" class="primary" disabled={chosen.length < 2} onClick={group}>
                <span class="codicon codicon-group-by-ref-type" aria-hidden="true" /> Group {chosen.length} into a supernode
              </button>
              {groupError && (
                <div class="form-error" role="alert">
                  {groupError}
                </div>
              )}
              {pins.supernodes.length > 0 && (
                <ul aria-label="Supernodes">
                  {pins.supernodes.map((s) => (
                    <li>
                      <span>
                        {s.name} ({s.members.length})
                      </span>
                      <button type="button" class="icon-button" aria-label={`Ungroup ${s.name}`} onClick={() => setPins((p) => ungroup(p, s.name))}>
                        <span class="codicon codicon-ungroup-by-ref-type" aria-hidden="true" />
                      </button>
                    </li>
                  ))}
                </ul>
              )}
              {subgraph.edges.length > 0 && (
                <table class="feature-table" aria-label="Edges of the pinned subgraph (supernodes summed)">
                  <caption>Pinned subgraph</caption>
                  <tbody>
                    {subgraph.edges.slice(0, 30).map((e) => (
                      <tr>
                        <td>{byId.get(e.source) ? nodeShortName(byId.get(e.source)!) : e.source}</td>
                        <td>→ {byId.get(e.target) ? nodeShortName(byId.get(e.target)!) : e.target}</td>
                        <td class="numeric">{formatSigned(e.weight)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </aside>
        </div>
      )}
    </ViewFrame>
  );
}
