/**
 * The circuit view: the discovered circuit as a layered graph (circuit-model.ts), measured edges
 * drawn with width |score|, colour by sign and the q/k/v port they read; hovering or focusing an
 * edge shows its score; clicking it (or Enter) checks an edge out of a head by path patching; a size slider (a range input: arrow keys, Home/End) picks a circuit from
 * the faithfulness curve drawn beside it; the circuit's faithfulness in the subtitle; the edges
 * also as a table for screen readers. Exports: SVG and PNG of the graph, the circuit as JSON.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { CircuitReport } from '../../../../protocol/circuit.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { toHex } from '../../shared/colour.js';
import { useSize } from '../../shared/use-size.js';
import {
  circuitAtSize,
  circuitDrawing,
  circuitSvg,
  curvePlot,
  edgeCheckable,
  edgeCheckText,
  formatShare,
  initialSizeIndex,
  PORTS,
  rowLabels,
  sizeText,
} from './circuit-model.js';

const CURVE_WIDTH = 220;
const CURVE_HEIGHT = 150;

/** What the report measured, in words: method, target, metric. */
export function circuitCaption(report: CircuitReport): string {
  const method = report.method === 'eap-ig' ? `EAP-IG (${report.steps ?? 5} steps)` : 'EAP';
  const metric =
    report.contrast !== null ? `logit ${JSON.stringify(report.target)} − ${JSON.stringify(report.contrast)}` : `log p(${JSON.stringify(report.target)})`;
  return `${method} · ${metric} · ${report.model.displayName}`;
}

export function CircuitView() {
  const { state, palette, actions } = useLab();
  const [checking, setChecking] = useState<string | null>(null);
  const check = (from: string, to: string): void => {
    if (!edgeCheckable(from, to)) return;
    setChecking(`${from} → ${to}`);
    actions
      .checkEdge(from, to)
      .catch(() => undefined) // a failure shows as the Lab's notice
      .finally(() => setChecking(null));
  };
  const report = state.circuit;
  const [sizeIndex, setSizeIndex] = useState<number | null>(null);
  const [hovered, setHovered] = useState<string | null>(null);
  const [size, ref] = useSize<HTMLDivElement>();
  useEffect(() => {
    setSizeIndex(report ? initialSizeIndex(report) : null);
    setHovered(null);
  }, [report]);

  const shape = report?.graph ?? null;
  const at = useMemo(() => (report ? circuitAtSize(report, sizeIndex) : null), [report, sizeIndex]);
  const width = Math.max(240, size.width - CURVE_WIDTH - 16);
  const drawing = useMemo(() => (shape && at ? circuitDrawing(shape, at.edges, width, palette) : null), [shape, at, width, palette]);
  const curve = report?.curve ?? [];
  const plot = useMemo(() => curvePlot(curve, CURVE_WIDTH, CURVE_HEIGHT), [curve]);
  const caption = report && at ? `${circuitCaption(report)} · ${at.edges.length} edges · faithfulness ${formatShare(at.faithfulness)}` : '';
  const exportSvg = () => (drawing && shape ? circuitSvg(drawing, shape, caption, palette) : '');
  const hoveredEdge = drawing?.edges.find((e) => `${e.from}>${e.to}` === hovered) ?? null;

  return (
    <ViewFrame
      view="circuit"
      drawn={drawing !== null}
      subtitle={report && at ? <span class="circuit-faithfulness">{caption}</span> : 'no circuit yet'}
      controls={
        report && curve.length > 1 ? (
          <label class="circuit-size">
            size
            <input
              type="range"
              min={0}
              max={curve.length - 1}
              step={1}
              value={sizeIndex ?? 0}
              aria-label="Circuit size (edges), from the faithfulness curve"
              aria-valuetext={sizeText(curve[sizeIndex ?? 0]!)}
              onInput={(e) => setSizeIndex(Number((e.currentTarget as HTMLInputElement).value))}
            />
          </label>
        ) : undefined
      }
      exporter={{
        svg: exportSvg,
        png: async () => svgPng(exportSvg(), drawing?.width ?? 1, (drawing?.height ?? 1) + 34),
      }}
    >
      {!report || !drawing || !shape || !at ? (
        <p class="empty">No circuit yet. Run “Circuit Trace: Find Circuit” on a .prompt prompt with @corrupt, or on a selection.</p>
      ) : (
        <div class="circuit-body" ref={ref}>
          <div class="circuit-graph">
            <svg
              width={drawing.width}
              height={drawing.height}
              role="img"
              aria-label={`Circuit graph: ${at.edges.length} measured edges between the embedding, heads, MLPs and the logits, layers top to bottom. ${caption}.`}
            >
              {rowLabels(shape.nLayers).map((r) => (
                <text key={r.text} x={4} y={r.y} class="circuit-row-label">
                  {r.text}
                </text>
              ))}
              {drawing.nodes.map((n) => (
                <rect
                  key={n.name}
                  x={n.x}
                  y={n.y}
                  width={n.width}
                  height={n.height}
                  rx={3}
                  class={`circuit-node${n.active ? ' active' : ''}`}
                  data-node={n.name}
                >
                  <title>{n.name}</title>
                </rect>
              ))}
              {drawing.nodes
                .filter((n) => n.active && n.width >= 24)
                .map((n) => (
                  <text key={`${n.name}-label`} x={n.x + n.width / 2} y={n.y + n.height / 2 + 3} class="circuit-node-label" text-anchor="middle">
                    {n.name}
                  </text>
                ))}
              {drawing.edges.map((e) => {
                const key = `${e.from}>${e.to}`;
                const checkable = edgeCheckable(e.from, e.to);
                const label = `${e.from} → ${e.to}: score ${e.score.toPrecision(4)}${checkable ? '; Enter checks it by path patching' : ''}`;
                return (
                  <path
                    key={key}
                    d={e.d}
                    fill="none"
                    stroke={toHex(e.colour)}
                    stroke-width={e.width}
                    stroke-opacity={hovered === null || hovered === key ? 0.85 : 0.3}
                    stroke-dasharray={e.dash ?? undefined}
                    class="circuit-edge"
                    data-edge={key}
                    tabIndex={0}
                    role="img"
                    aria-label={label}
                    onMouseEnter={() => setHovered(key)}
                    onMouseLeave={() => setHovered(null)}
                    onFocus={() => setHovered(key)}
                    onBlur={() => setHovered(null)}
                    onClick={() => check(e.from, e.to)}
                    onKeyDown={(event) => {
                      if (event.key === 'Enter' || event.key === ' ') {
                        event.preventDefault();
                        check(e.from, e.to);
                      }
                    }}
                    style={checkable ? { cursor: 'pointer' } : undefined}
                  >
                    <title>{label}</title>
                  </path>
                );
              })}
            </svg>
            <p class="circuit-hover" aria-live="polite">
              {hoveredEdge
                ? `${hoveredEdge.from} → ${hoveredEdge.to}: score ${hoveredEdge.score.toPrecision(4)}`
                : 'Hover or focus an edge for its score; click an edge out of a head to check it by path patching.'}
            </p>
            <p class="circuit-check" aria-live="polite">
              {checking ? `path patching ${checking}…` : state.edgeCheck ? edgeCheckText(state.edgeCheck) : ''}
            </p>
          </div>
          <aside class="circuit-side">
            <svg width={plot.width} height={plot.height} role="img" aria-label="Faithfulness against circuit size (edges, log scale)" class="circuit-curve">
              <line x1={30} x2={plot.width - 8} y1={plot.y100} y2={plot.y100} class="circuit-curve-guide" />
              <line x1={30} x2={plot.width - 8} y1={plot.y0} y2={plot.y0} class="circuit-curve-guide" />
              <text x={26} y={plot.y100 + 3} text-anchor="end" class="circuit-row-label">
                100%
              </text>
              <text x={26} y={plot.y0 + 3} text-anchor="end" class="circuit-row-label">
                0%
              </text>
              <polyline
                fill="none"
                stroke={toHex(palette.positive)}
                stroke-width={1.5}
                points={plot.points
                  .filter((p) => Number.isFinite(p.y))
                  .map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`)
                  .join(' ')}
              />
              {plot.points.map((p, i) =>
                Number.isFinite(p.y) ? (
                  <circle
                    key={i}
                    cx={p.x}
                    cy={p.y}
                    r={i === sizeIndex ? 4.5 : 2.5}
                    class={i === sizeIndex ? 'circuit-curve-point selected' : 'circuit-curve-point'}
                  >
                    <title>{sizeText(curve[i]!)}</title>
                  </circle>
                ) : null,
              )}
              <text x={plot.width - 8} y={plot.height - 3} text-anchor="end" class="circuit-row-label">
                edges (log)
              </text>
            </svg>
            <ul class="circuit-legend" aria-label="Legend">
              {(['q', 'k', 'v'] as const).map((p) => (
                <li key={p}>
                  <svg width={28} height={8} aria-hidden="true">
                    <line x1={0} x2={28} y1={4} y2={4} stroke="currentColor" stroke-width={2} stroke-dasharray={PORTS[p].dash ?? undefined} />
                  </svg>{' '}
                  {PORTS[p].label}
                </li>
              ))}
              <li>
                <span class="swatch" style={{ background: toHex(palette.positive) }} /> raises the metric,{' '}
                <span class="swatch" style={{ background: toHex(palette.negative) }} /> lowers it; width |score|
              </li>
            </ul>
            <table class="circuit-edges" aria-label="The circuit's edges by |score|">
              <thead>
                <tr>
                  <th scope="col">from</th>
                  <th scope="col">to</th>
                  <th scope="col">score</th>
                </tr>
              </thead>
              <tbody>
                {at.edges.slice(0, 50).map((e) => (
                  <tr key={`${e.from}>${e.to}`}>
                    <td>{e.from}</td>
                    <td>{e.to}</td>
                    <td>{e.score.toPrecision(3)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </aside>
        </div>
      )}
    </ViewFrame>
  );
}
