/**
 * The circuit trace: a layers × heads heatmap of direct contributions plus the MLP column and the
 * embedding strip, on one diverging scale centred at zero (blue toward the target, orange away),
 * the measured head → head edges of a circuit discovered for this prompt drawn over it (captioned),
 * the DLA legend (mode and what each component includes), a switch between the target logit and
 * the logit difference (when the result has a contrast; the other trace is asked from the host),
 * and the selected head's contribution split by source token.
 */
import { useMemo, useRef, useState } from 'preact/hooks';
import { CanvasHeatmap, type CanvasHeatmapHandle, type Cell } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { CAPTION_HEIGHT, css, drawCaption } from '../../shared/canvas.js';
import { divergingColour, toHex, type Rgb } from '../../shared/colour.js';
import { formatSigned, headName } from '../../shared/format.js';
import { cellCentre, type HeatmapLayout } from '../../shared/heatmap-layout.js';
import { svgDocument, svgText } from '../../shared/svg.js';
import { isBos, tokenDisplay, tokenQuoted, tokenTitle } from '../../shared/token-display.js';
import { activeTrace } from '../../state/lab-state.js';
import { selectHead, selectLayer, selectPosition } from '../../state/selection.js';
import { dlaLegend, dlaLegendLines } from './dla-legend.js';
import { circuitOverlay, metricDescription, sourceSplit, traceGrid } from './trace-model.js';

const MARGINS = { left: 30, top: 34, right: 6, bottom: 4 };
/** With the circuit overlay, room under the grid for its caption. */
const MARGINS_WITH_CAPTION = { ...MARGINS, bottom: MARGINS.bottom + CAPTION_HEIGHT };

export function TraceView() {
  const { state, palette, actions } = useLab();
  const [drawn, setDrawn] = useState(false);
  const handle = useRef<CanvasHeatmapHandle | null>(null);
  const result = state.result;
  const trace = activeTrace(state);
  const { nLayers, nHeads } = state;
  const grid = useMemo(() => (trace ? traceGrid(trace, nLayers, nHeads) : null), [trace, nLayers, nHeads]);
  const overlay = useMemo(() => (trace ? circuitOverlay(state.circuit, state.result) : null), [trace, state.circuit, state.result]);
  const legend = useMemo(() => (trace ? dlaLegend(trace) : null), [trace]);
  // The canvas redraws when the cells or the overlay change.
  const drawKey = useMemo(() => ({ grid, overlay }), [grid, overlay]);
  const colLabels = useMemo(() => [...Array.from({ length: nHeads }, (_, h) => `H${h}`), 'MLP'], [nHeads]);
  const rowLabels = useMemo(() => Array.from({ length: nLayers }, (_, l) => `L${l}`), [nLayers]);
  const hasContrast = trace !== null && (trace.contrastId !== null || Object.keys(state.traces).length > 1);

  const colourAt = (r: number, c: number): Rgb | null => (grid ? divergingColour(grid.values[r * grid.cols + c]!, grid.maxAbs, palette) : null);
  /** Where the overlay's caption starts: under the cells, inside the bottom margin. */
  const captionAt = (layout: HeatmapLayout) => ({ x: layout.x0, y: layout.y0 + layout.rows * layout.cellHeight + 3 });
  const drawPath = (ctx: CanvasRenderingContext2D, layout: HeatmapLayout) => {
    if (!overlay?.caption) return;
    ctx.lineCap = 'round';
    for (const s of overlay.segments) {
      const a = cellCentre(layout, s.from.row, s.from.col);
      const b = cellCentre(layout, s.to.row, s.to.col);
      ctx.strokeStyle = css(palette.path, 0.45 + 0.5 * s.weight);
      ctx.lineWidth = 1 + 3 * s.weight;
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
    ctx.fillStyle = css(palette.path);
    for (const node of overlay.nodes) {
      const c = cellCentre(layout, node.layer, node.head);
      ctx.beginPath();
      ctx.arc(c.x, c.y, Math.max(1.5, Math.min(layout.cellWidth, layout.cellHeight) * 0.12), 0, Math.PI * 2);
      ctx.fill();
    }
    drawCaption(ctx, overlay.caption, palette.foreground, palette.fontFamily, captionAt(layout));
  };
  const svgPath = (layout: HeatmapLayout) => {
    if (!overlay?.caption) return '';
    const lines = overlay.segments.map((s) => {
      const a = cellCentre(layout, s.from.row, s.from.col);
      const b = cellCentre(layout, s.to.row, s.to.col);
      return `<line x1="${a.x.toFixed(1)}" y1="${a.y.toFixed(1)}" x2="${b.x.toFixed(1)}" y2="${b.y.toFixed(1)}" stroke="${toHex(palette.path)}" stroke-opacity="${(0.45 + 0.5 * s.weight).toFixed(2)}" stroke-width="${(1 + 3 * s.weight).toFixed(1)}" stroke-linecap="round"/>`;
    });
    const radius = Math.max(1.5, Math.min(layout.cellWidth, layout.cellHeight) * 0.12);
    const dots = overlay.nodes.map((node) => {
      const c = cellCentre(layout, node.layer, node.head);
      return `<circle cx="${c.x.toFixed(1)}" cy="${c.y.toFixed(1)}" r="${radius.toFixed(1)}" fill="${toHex(palette.path)}"/>`;
    });
    const at = captionAt(layout);
    return lines.join('') + dots.join('') + svgText(at.x, at.y + 9, overlay.caption, palette.foreground);
  };

  const selectedHead =
    state.selection.layer !== undefined && state.selection.head !== undefined ? { layer: state.selection.layer, head: state.selection.head } : null;
  const split = useMemo(
    () => (trace && result && selectedHead ? sourceSplit(trace, nHeads, result.tokens.length, selectedHead.layer, selectedHead.head) : null),
    [trace, result, selectedHead?.layer, selectedHead?.head, nHeads],
  );
  const splitMax = split ? Math.max(1e-12, ...Array.from(split, Math.abs)) : 1;

  const valueOf = (c: Cell) => grid!.values[c.row * grid!.cols + c.col]!;
  const cellName = (c: Cell) => (c.col === nHeads ? `mlp${c.row}` : headName(c.row, c.col));

  const onSelectCell = (c: Cell) => {
    if (c.col === nHeads) actions.select(selectLayer(state.selection, c.row));
    else actions.select(selectHead(state.selection, c.row, c.col));
  };

  const metricSwitch = hasContrast && trace && (
    <div class="segmented" role="radiogroup" aria-label="Traced metric">
      {(['logit', 'logit_diff'] as const).map((m) => (
        <button
          type="button"
          role="radio"
          aria-checked={state.traceMetric === m}
          class={state.traceMetric === m ? 'active' : ''}
          onClick={() => actions.setTraceMetric(m)}
        >
          {m === 'logit' ? 'Target logit' : 'Logit diff'}
        </button>
      ))}
    </div>
  );

  const exportSvg = () => {
    const heatmap = handle.current!.svg();
    if (!grid) return heatmap;
    // Append the embedding strip under the heatmap.
    const match = /width="(\d+)" height="(\d+)"/.exec(heatmap);
    const w = Number(match?.[1] ?? 400);
    const h = Number(match?.[2] ?? 300);
    const inner = heatmap.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '');
    const strip = grid.extras
      .map((e, i) => {
        const x = MARGINS.left + i * 90;
        return (
          `<rect x="${x}" y="${h + 6}" width="16" height="16" fill="${toHex(divergingColour(e.value, grid.maxAbs, palette))}"/>` +
          svgText(x + 20, h + 18, `${e.name} ${formatSigned(e.value)}`, palette.foreground)
        );
      })
      .join('');
    const legendLines = legend ? dlaLegendLines(legend) : [];
    const legendSvg = legendLines.map((line, i) => svgText(MARGINS.left, h + 40 + i * 13, line, palette.foreground)).join('');
    return svgDocument(w, h + 34 + legendLines.length * 13, palette.background, inner + strip + legendSvg, palette.fontFamily);
  };

  return (
    <ViewFrame
      view="trace"
      drawn={drawn && grid !== null}
      subtitle={trace ? `${metricDescription(trace)} at position ${trace.position}${state.tracePending ? ' · loading…' : ''}` : ''}
      controls={metricSwitch}
      exporter={{ png: () => handle.current!.png(), svg: exportSvg }}
    >
      {grid && trace && result ? (
        <div class="trace-layout">
          <div class="trace-main">
            <CanvasHeatmap
              handle={handle}
              rows={grid.rows}
              cols={grid.cols}
              colourAt={colourAt}
              rowLabels={rowLabels}
              colLabels={colLabels}
              square={false}
              margins={overlay?.caption ? MARGINS_WITH_CAPTION : MARGINS}
              palette={palette}
              drawKey={drawKey}
              highlightCell={selectedHead ? { row: selectedHead.layer, col: selectedHead.head } : undefined}
              highlightRow={selectedHead ? undefined : state.selection.layer}
              overlay={drawPath}
              svgOverlay={svgPath}
              ariaLabel={`Direct contributions to the ${metricDescription(trace)} by layer and head, with MLPs in the last column.${overlay?.caption ? ` Drawn over it: ${overlay.caption}.` : ''} Arrow keys move, Enter selects.`}
              describe={(c) => `${cellName(c)}: ${formatSigned(valueOf(c))}`}
              tooltip={(c) => (
                <>
                  <div class="tooltip-title">{cellName(c)}</div>
                  <div>contribution {formatSigned(valueOf(c))}</div>
                  {c.col < nHeads && <div>{result.heads[c.row * nHeads + c.col]?.label}</div>}
                </>
              )}
              onSelect={onSelectCell}
              onDrawn={() => {
                if (!drawn) setDrawn(true);
                actions.reportDrawn('trace');
              }}
            />
            <div class="trace-strip" aria-label="Embedding, positional embedding and bias contributions">
              {grid.extras.map((e) => (
                <span class="trace-extra" title={`${e.name}: ${formatSigned(e.value)}`}>
                  <span class="swatch" style={{ background: toHex(divergingColour(e.value, grid.maxAbs, palette)) }} />
                  {e.name} {formatSigned(e.value)}
                </span>
              ))}
              <span class="trace-extra">
                total {formatSigned(trace.total)} (model {formatSigned(trace.actual)})
              </span>
              {legend && (
                <details class="dla-legend">
                  <summary>DLA {legend.mode}</summary>
                  <div class="dla-legend-body">
                    <div class="dla-legend-title">{legend.summary}</div>
                    <dl>
                      {legend.entries.map((e) => (
                        <>
                          <dt>{e.component}</dt>
                          <dd>{e.includes}</dd>
                        </>
                      ))}
                    </dl>
                    <div>{legend.unembedding}</div>
                  </div>
                </details>
              )}
              <span class="legend">
                <span class="swatch" style={{ background: toHex(palette.negative) }} /> {formatSigned(-grid.maxAbs)}
                <span class="swatch" style={{ background: toHex(palette.background) }} /> 0
                <span class="swatch" style={{ background: toHex(palette.positive) }} /> {formatSigned(grid.maxAbs)}
              </span>
            </div>
          </div>
          <div class="trace-split" aria-label="Contribution of the selected head by source token">
            <div class="split-title">
              {selectedHead ? `${headName(selectedHead.layer, selectedHead.head)} by source token` : 'Select a head to split it by source token'}
            </div>
            {split && (
              <ol class="split-list">
                {Array.from(split, (v, k) => (
                  <li
                    class={`split-row${state.selection.position === k ? ' selected' : ''}`}
                    tabIndex={0}
                    aria-label={`source ${k} ${tokenQuoted(result.tokens[k])}: ${formatSigned(v)}`}
                    onClick={() => actions.select(selectPosition(state.selection, k))}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        actions.select(selectPosition(state.selection, k));
                      }
                    }}
                  >
                    <span class={`split-token token${isBos(result.tokens[k]) ? ' token-bos' : ''}`} title={tokenTitle(result.tokens[k], k)}>
                      {tokenDisplay(result.tokens[k])}
                    </span>
                    <span class="split-bar-track">
                      <span
                        class={`split-bar ${v >= 0 ? 'pos' : 'neg'}`}
                        style={{ width: `${(Math.abs(v) / splitMax) * 50}%`, background: toHex(v >= 0 ? palette.positive : palette.negative) }}
                      />
                    </span>
                    <span class="split-value">{formatSigned(v)}</span>
                  </li>
                ))}
              </ol>
            )}
          </div>
        </div>
      ) : (
        <div class="placeholder">
          {state.phase === 'streaming' ? 'The trace is computed when the forward pass finishes…' : 'Run an analysis to trace the circuit.'}
        </div>
      )}
    </ViewFrame>
  );
}
