/**
 * Token flow: an arc diagram of aggregate attention between tokens (flow.total [query, key],
 * summed over every layer and head), thresholded and scaled; hover a token to isolate its arcs,
 * click it to select its position. Drawn as SVG, so the export is the drawing itself.
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { toHex } from '../../shared/colour.js';
import { truncateLabel } from '../../shared/format.js';
import { BOS_TITLE, isBos, tokenDisplay, tokenQuoted } from '../../shared/token-display.js';
import { MUTED_LABEL_OPACITY } from '../../shared/svg.js';
import { useSize } from '../../shared/use-size.js';
import { selectPosition } from '../../state/selection.js';
import { arcPath, arcWidth, DEFAULT_FLOW_OPTIONS, flowArcs, focusSummary, tokenXs, touches } from './flow-model.js';

const LABEL_SPACE = 64;

const SIDE = 16;

export function FlowView() {
  const { state, palette, actions } = useLab();
  const result = state.result;
  const [size, boxRef] = useSize<HTMLDivElement>();
  const svg = useRef<SVGSVGElement>(null);
  const [threshold, setThreshold] = useState(DEFAULT_FLOW_OPTIONS.threshold);
  const [skipFirstKey, setSkipFirstKey] = useState(DEFAULT_FLOW_OPTIONS.skipFirstKey);
  const [hovered, setHovered] = useState<number | null>(null);
  const [drawn, setDrawn] = useState(false);
  const n = result?.tokens.length ?? 0;
  const arcs = useMemo(
    () => (result ? flowArcs(result.flow.total, n, result.model.nLayers * result.model.nHeads, { ...DEFAULT_FLOW_OPTIONS, threshold, skipFirstKey }) : []),
    [result, threshold, skipFirstKey, n],
  );
  const width = size.width;
  const height = size.height;
  const baseline = height - LABEL_SPACE;
  const xs = useMemo(() => tokenXs(n, SIDE, Math.max(SIDE, width - SIDE)), [n, width]);
  const maxSpan = n > 1 ? xs[n - 1]! - xs[0]! : 1;
  const focus = hovered ?? state.selection.position ?? null;
  const labelEvery = Math.max(1, Math.ceil(12 / Math.max(1, maxSpan / Math.max(1, n - 1))));

  useLayoutEffect(() => {
    if (result && width > 0) {
      setDrawn(true);
      actions.reportDrawn('flow');
    }
  }, [arcs, width, height, result]);

  const exportSvg = () => {
    const el = svg.current;
    if (!el) throw new Error('nothing drawn');
    const clone = el.cloneNode(true) as SVGSVGElement;
    clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
    clone.setAttribute('font-family', palette.monoFontFamily);
    const background = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    background.setAttribute('width', String(width));
    background.setAttribute('height', String(height));
    background.setAttribute('fill', toHex(palette.background));
    clone.prepend(background);
    return new XMLSerializer().serializeToString(clone);
  };

  return (
    <ViewFrame
      view="flow"
      drawn={drawn && result !== null}
      subtitle={
        result ? `${arcs.length} arcs ≥ ${threshold.toFixed(3)} mean attention${focus !== null ? ` · ${focusSummary(arcs, focus, result.tokens)}` : ''}` : ''
      }
      controls={
        <>
          <label class="control">
            threshold
            <input
              type="range"
              min={0}
              max={0.3}
              step={0.005}
              value={threshold}
              aria-label="Smallest mean attention drawn"
              onInput={(e) => setThreshold(Number((e.target as HTMLInputElement).value))}
            />
          </label>
          <label class="control">
            <input type="checkbox" checked={skipFirstKey} onChange={(e) => setSkipFirstKey((e.target as HTMLInputElement).checked)} />
            hide first token
          </label>
        </>
      }
      exporter={{ svg: exportSvg, png: () => svgPng(exportSvg(), width, height) }}
    >
      <div class="flow-box" ref={boxRef}>
        {result && width > 0 && height > 0 ? (
          <svg
            ref={svg}
            width={width}
            height={height}
            viewBox={`0 0 ${width} ${height}`}
            role="img"
            aria-label={`Token flow: ${arcs.length} arcs of aggregate attention between ${n} tokens`}
          >
            <g fill="none" stroke-linecap="round">
              {arcs.map((a) => {
                const on = focus === null || touches(a, focus);
                return (
                  <path
                    d={arcPath(xs[a.key]!, xs[a.query]!, baseline, baseline - 8, maxSpan)}
                    stroke={toHex(focus !== null && on ? palette.positive : palette.foreground)}
                    stroke-opacity={on ? 0.25 + 0.7 * a.weight : 0.05}
                    stroke-width={arcWidth(a.weight)}
                  />
                );
              })}
            </g>
            <g font-size="10" fill={toHex(palette.foreground)}>
              {result.tokens.map((t, i) => {
                const selected = i === state.selection.position;
                const x = xs[i]!;
                return (
                  <g
                    class="flow-token"
                    tabIndex={0}
                    role="button"
                    aria-label={`token ${i} ${tokenQuoted(t)}${isBos(t) ? ` (${BOS_TITLE})` : ''}`}
                    onMouseEnter={() => setHovered(i)}
                    onMouseLeave={() => setHovered(null)}
                    onFocus={() => setHovered(i)}
                    onBlur={() => setHovered(null)}
                    onClick={() => actions.select(selectPosition(state.selection, i))}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        actions.select(selectPosition(state.selection, i));
                      }
                    }}
                  >
                    {isBos(t) && <title>{BOS_TITLE}</title>}
                    <circle cx={x} cy={baseline} r={selected ? 4 : 2.5} fill={toHex(selected ? palette.accent : palette.foreground)} />
                    <rect x={x - 5} y={baseline - 6} width={10} height={LABEL_SPACE} fill="transparent" />
                    {(i % labelEvery === 0 || selected || i === hovered) && (
                      <text
                        x={x}
                        y={baseline + 10}
                        transform={`rotate(60 ${x} ${baseline + 10})`}
                        fill={toHex(selected ? palette.accent : palette.foreground)}
                        fill-opacity={isBos(t) && !selected ? MUTED_LABEL_OPACITY : 1}
                        font-style={isBos(t) ? 'italic' : undefined}
                      >
                        {truncateLabel(tokenDisplay(t), 10)}
                      </text>
                    )}
                  </g>
                );
              })}
            </g>
          </svg>
        ) : (
          <div class="placeholder">
            {state.phase === 'streaming'
              ? 'Token flow is summed when the forward pass finishes…'
              : 'Run an analysis to see how attention flows between tokens.'}
          </div>
        )}
      </div>
    </ViewFrame>
  );
}
