/**
 * The circuit view: the discovered circuit as a layered graph (circuit-model.ts), measured edges
 * drawn with width |score|, colour by sign and the q/k/v port they read; hovering or focusing an
 * edge shows its score; clicking it (or Enter) checks an edge out of a head by path patching; a
 * size slider over every circuit size (a range input on a log scale; arrow keys step one edge,
 * Page Up/Down jump between measured sizes, Home/End) shows a measured size at once and asks the
 * engine for any other (debounced; a newer size cancels the older), which then joins the
 * faithfulness curve drawn beside it; the circuit's faithfulness in the subtitle; the edges also
 * as a table for screen readers. Exports: SVG and PNG of the graph, the circuit as JSON.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { CircuitReport } from '../../../../protocol/circuit.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { toHex } from '../../shared/colour.js';
import { useSize } from '../../shared/use-size.js';
import type { ScoredEdge } from '../../../../protocol/circuit.js';
import {
  circuitAtSize,
  circuitDrawing,
  circuitSvg,
  curvePlot,
  edgeCheckable,
  edgeCheckText,
  formatShare,
  initialSize,
  keySize,
  maxSize,
  measuredIndex,
  pendingSizeText,
  PORTS,
  rowLabels,
  sizeAtPosition,
  sizeText,
  sliderPosition,
  SLIDER_POSITIONS,
  type CircuitAtSize,
} from './circuit-model.js';

const CURVE_WIDTH = 220;
const CURVE_HEIGHT = 150;
/** How long the slider rests on an unmeasured size before the engine is asked for it. */
export const SIZE_DEBOUNCE_MS = 250;

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
  /** Why the last check failed (shown in place of a check). */
  const [checkError, setCheckError] = useState<string | null>(null);
  const check = (from: string, to: string): void => {
    if (!edgeCheckable(from, to)) return;
    setChecking(`${from} → ${to}`);
    setCheckError(null);
    actions
      .checkEdge(from, to)
      .catch((error: unknown) => setCheckError(`path patching ${from} → ${to} failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => setChecking(null));
  };
  const report = state.circuit;
  // The slider's size (edges asked for; null: the report's own threshold-chosen circuit) belongs to
  // one discovery: a new one starts at its own size, a size measured since (same scored edges) does not.
  const discovery = report?.allEdges ?? null;
  const [slider, setSlider] = useState<{ discovery: ScoredEdge[] | null; k: number | null }>({ discovery: null, k: null });
  const sizeK = slider.discovery === discovery ? slider.k : report ? initialSize(report) : null;
  const setSizeK = (k: number): void => setSlider({ discovery, k });
  /** Why the size last asked for was not measured. */
  const [sizeError, setSizeError] = useState<{ discovery: ScoredEdge[] | null; k: number; text: string } | null>(null);
  const [hovered, setHovered] = useState<string | null>(null);
  const [size, ref] = useSize<HTMLDivElement>();

  const measured = useMemo(() => (report ? circuitAtSize(report, sizeK) : null), [report, sizeK]);
  // While a size is measured, the last measured circuit stays drawn.
  const lastShown = useRef<CircuitAtSize | null>(null);
  if (measured) lastShown.current = measured;
  const at = measured ?? lastShown.current;
  const pending = report !== null && sizeK !== null && measured === null;
  const latestAsk = useRef(0);
  useEffect(() => {
    const ticket = ++latestAsk.current;
    if (!pending || sizeK === null) return;
    const timer = setTimeout(() => {
      actions.measureCircuitSize(sizeK).catch((error: unknown) => {
        // An older size's request is cancelled by the newer one: only the latest's failure is news.
        if (latestAsk.current === ticket) setSizeError({ discovery, k: sizeK, text: error instanceof Error ? error.message : String(error) });
      });
    }, SIZE_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [pending, sizeK, discovery]);

  const shape = report?.graph ?? null;
  const width = Math.max(240, size.width - CURVE_WIDTH - 16);
  const drawing = useMemo(() => (shape && at ? circuitDrawing(shape, at.edges, width, palette) : null), [shape, at, width, palette]);
  const curve = report?.curve ?? [];
  const plot = useMemo(() => curvePlot(curve, CURVE_WIDTH, CURVE_HEIGHT), [curve]);
  const caption = report && at ? `${circuitCaption(report)} · ${at.edges.length} edges · faithfulness ${formatShare(at.faithfulness)}` : '';
  const errorNow = sizeError !== null && sizeError.discovery === discovery && sizeError.k === sizeK ? sizeError.text : null;
  const sizeAnnouncement = (): string => {
    if (!report || sizeK === null) return at ? `${at.edges.length} edges, faithfulness ${formatShare(at.faithfulness)}` : '';
    const i = measuredIndex(report, sizeK);
    return i >= 0 ? sizeText(report.curve![i]!) : pendingSizeText(sizeK, errorNow);
  };
  const exportSvg = () => (drawing && shape ? circuitSvg(drawing, shape, caption, palette) : '');
  const hoveredEdge = drawing?.edges.find((e) => `${e.from}>${e.to}` === hovered) ?? null;

  return (
    <ViewFrame
      view="circuit"
      drawn={drawing !== null}
      subtitle={report && at ? <span class="circuit-faithfulness">{caption}</span> : 'no circuit yet'}
      controls={
        report && maxSize(report) > 1 ? (
          <label class="circuit-size">
            size
            <input
              type="range"
              min={0}
              max={SLIDER_POSITIONS}
              step={1}
              value={sliderPosition(sizeK ?? Math.max(1, report.edges.length), maxSize(report))}
              aria-label={`Circuit size: top edges by |score|, 1 to ${maxSize(report)} (log scale)`}
              aria-valuetext={sizeAnnouncement()}
              onInput={(e) => setSizeK(sizeAtPosition(Number((e.currentTarget as HTMLInputElement).value), maxSize(report)))}
              onKeyDown={(e) => {
                const key = e.key;
                if (keySize(report, sizeK, key) === null) return;
                e.preventDefault();
                // From the latest size, should keys arrive faster than the view redraws.
                setSlider((prev) => ({ discovery, k: keySize(report, prev.discovery === discovery ? prev.k : initialSize(report), key) }));
              }}
            />
            <span class="circuit-size-value" aria-hidden="true">
              {sizeK ?? at?.edges.length ?? ''}
            </span>
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
            <p class="circuit-size-status" aria-live="polite">
              {pending && sizeK !== null ? `Size ${sizeK}: ${pendingSizeText(sizeK, errorNow)}` : ''}
            </p>
            <p class="circuit-check" aria-live="polite">
              {checking ? `path patching ${checking}…` : (checkError ?? (state.edgeCheck ? edgeCheckText(state.edgeCheck) : ''))}
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
              {pending && sizeK !== null ? (
                <line x1={plot.x(sizeK)} x2={plot.x(sizeK)} y1={plot.y100} y2={plot.y0} class="circuit-curve-pending" stroke-dasharray="3 3" />
              ) : null}
              {plot.points.map((p, i) =>
                Number.isFinite(p.y) ? (
                  <circle
                    key={p.requested}
                    cx={p.x}
                    cy={p.y}
                    r={p.requested === sizeK ? 4.5 : 2.5}
                    class={p.requested === sizeK ? 'circuit-curve-point selected' : 'circuit-curve-point'}
                    data-edges={p.requested}
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
