/**
 * The circuit trace: a layers × heads heatmap of direct contributions plus the MLP column and the
 * embedding strip, on one diverging scale centred at zero (blue toward the target, orange away),
 * the top path drawn over it, a switch between the target logit and the logit difference (when
 * the result has a contrast; the other trace is asked from the host), and the selected head's
 * contribution split by source token.
 */
import { useMemo, useRef, useState } from 'preact/hooks';
import { CanvasHeatmap, type CanvasHeatmapHandle, type Cell } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { css } from '../../shared/canvas.js';
import { divergingColour, toHex, type Rgb } from '../../shared/colour.js';
import { formatSigned, headName, tokenLabel } from '../../shared/format.js';
import { cellCentre, type HeatmapLayout } from '../../shared/heatmap-layout.js';
import { svgDocument, svgText } from '../../shared/svg.js';
import { activeTrace } from '../../state/lab-state.js';
import { selectHead, selectLayer, selectPosition } from '../../state/selection.js';
import { metricDescription, pathSegments, sourceSplit, traceGrid } from './trace-model.js';

const MARGINS = { left: 30, top: 34, right: 6, bottom: 4 };

export function TraceView() {
  const { state, palette, actions } = useLab();
  const [drawn, setDrawn] = useState(false);
  const handle = useRef<CanvasHeatmapHandle | null>(null);
  const result = state.result;
  const trace = activeTrace(state);
  const { nLayers, nHeads } = state;
  const grid = useMemo(() => (trace ? traceGrid(trace, nLayers, nHeads) : null), [trace, nLayers, nHeads]);
  const segments = useMemo(() => (trace ? pathSegments(trace) : []), [trace]);
  const colLabels = useMemo(() => [...Array.from({ length: nHeads }, (_, h) => `H${h}`), 'MLP'], [nHeads]);
  const rowLabels = useMemo(() => Array.from({ length: nLayers }, (_, l) => `L${l}`), [nLayers]);
  const hasContrast = trace !== null && (trace.contrastId !== null || Object.keys(state.traces).length > 1);

  const colourAt = (r: number, c: number): Rgb | null => (grid ? divergingColour(grid.values[r * grid.cols + c]!, grid.maxAbs, palette) : null);
  const drawPath = (ctx: CanvasRenderingContext2D, layout: HeatmapLayout) => {
    ctx.lineCap = 'round';
    for (const s of segments) {
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
    for (const layer of trace?.topPath ?? []) {
      for (const node of layer) {
        const c = cellCentre(layout, node.layer, node.head);
        ctx.beginPath();
        ctx.arc(c.x, c.y, Math.max(1.5, Math.min(layout.cellWidth, layout.cellHeight) * 0.12), 0, Math.PI * 2);
        ctx.fill();
      }
    }
  };
  const svgPath = (layout: HeatmapLayout) =>
    segments.map((s) => {
      const a = cellCentre(layout, s.from.row, s.from.col);
      const b = cellCentre(layout, s.to.row, s.to.col);
      return `<line x1="${a.x.toFixed(1)}" y1="${a.y.toFixed(1)}" x2="${b.x.toFixed(1)}" y2="${b.y.toFixed(1)}" stroke="${toHex(palette.path)}" stroke-opacity="${(0.45 + 0.5 * s.weight).toFixed(2)}" stroke-width="${(1 + 3 * s.weight).toFixed(1)}" stroke-linecap="round"/>`;
    }).join('');

  const selectedHead = state.selection.layer !== undefined && state.selection.head !== undefined ? { layer: state.selection.layer, head: state.selection.head } : null;
  const split = useMemo(() => (trace && result && selectedHead ? sourceSplit(trace, nHeads, result.tokens.length, selectedHead.layer, selectedHead.head) : null), [trace, result, selectedHead?.layer, selectedHead?.head, nHeads]);
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
        <button type="button" role="radio" aria-checked={state.traceMetric === m} class={state.traceMetric === m ? 'active' : ''} onClick={() => actions.setTraceMetric(m)}>
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
    const strip = grid.extras.map((e, i) => {
      const x = MARGINS.left + i * 90;
      return `<rect x="${x}" y="${h + 6}" width="16" height="16" fill="${toHex(divergingColour(e.value, grid.maxAbs, palette))}"/>` + svgText(x + 20, h + 18, `${e.name} ${formatSigned(e.value)}`, palette.foreground);
    }).join('');
    return svgDocument(w, h + 30, palette.background, inner + strip, palette.fontFamily);
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
              margins={MARGINS}
              palette={palette}
              drawKey={grid}
              highlightCell={selectedHead ? { row: selectedHead.layer, col: selectedHead.head } : undefined}
              highlightRow={selectedHead ? undefined : state.selection.layer}
              overlay={drawPath}
              svgOverlay={svgPath}
              ariaLabel={`Direct contributions to the ${metricDescription(trace)} by layer and head, with MLPs in the last column. Arrow keys move, Enter selects.`}
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
              <span class="trace-extra">total {formatSigned(trace.total)} (model {formatSigned(trace.actual)})</span>
              <span class="legend">
                <span class="swatch" style={{ background: toHex(palette.negative) }} /> {formatSigned(-grid.maxAbs)}
                <span class="swatch" style={{ background: toHex(palette.background) }} /> 0
                <span class="swatch" style={{ background: toHex(palette.positive) }} /> {formatSigned(grid.maxAbs)}
              </span>
            </div>
          </div>
          <div class="trace-split" aria-label="Contribution of the selected head by source token">
            <div class="split-title">{selectedHead ? `${headName(selectedHead.layer, selectedHead.head)} by source token` : 'Select a head to split it by source token'}</div>
            {split && (
              <ol class="split-list">
                {Array.from(split, (v, k) => (
                  <li
                    class={`split-row${state.selection.position === k ? ' selected' : ''}`}
                    tabIndex={0}
                    aria-label={`source ${k} ${JSON.stringify(result.tokens[k]?.text ?? '')}: ${formatSigned(v)}`}
                    onClick={() => actions.select(selectPosition(state.selection, k))}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        actions.select(selectPosition(state.selection, k));
                      }
                    }}
                  >
                    <span class="split-token token">{tokenLabel(result.tokens[k]?.text ?? '')}</span>
                    <span class="split-bar-track">
                      <span class={`split-bar ${v >= 0 ? 'pos' : 'neg'}`} style={{ width: `${(Math.abs(v) / splitMax) * 50}%`, background: toHex(v >= 0 ? palette.positive : palette.negative) }} />
                    </span>
                    <span class="split-value">{formatSigned(v)}</span>
                  </li>
                ))}
              </ol>
            )}
          </div>
        </div>
      ) : (
        <div class="placeholder">{state.phase === 'streaming' ? 'The trace is computed when the forward pass finishes…' : 'Run an analysis to trace the circuit.'}</div>
      )}
    </ViewFrame>
  );
}
