/**
 * The AtP-vs-exact scatter drawn with uPlot: one point per head (x the exact patching effect, y
 * the attribution score, both in metric units), the y = x line, and the Pearson correlation in the
 * caption. Hovering a point names the head (L9H6); the keyboard walks the points (arrow keys,
 * Home/End) and Enter selects the head in every view.
 */
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { LabAttributionMethod } from '../../../../protocol/attribution.js';
import type { Palette } from '../../shared/colour.js';
import { toHex } from '../../shared/colour.js';
import { useSize } from '../../shared/use-size.js';
import { describePoint, METHOD_LABELS, type ScatterPoint } from './attribution-model.js';

const CHART_HEIGHT = 220;

export function ScatterChart(props: {
  points: readonly ScatterPoint[];
  r: number | null;
  method: LabAttributionMethod;
  palette: Palette;
  onSelect: (point: ScatterPoint) => void;
  onDrawn: () => void;
}) {
  const { points, palette } = props;
  const chart = useRef<uPlot | null>(null);
  const [size, boxRef, box] = useSize<HTMLDivElement>();
  const [active, setActive] = useState<number | null>(null);
  const label = METHOD_LABELS[props.method];

  useLayoutEffect(() => {
    chart.current?.destroy();
    chart.current = null;
    if (!box || size.width === 0 || points.length === 0) return;
    const xs = points.map((p) => p.exact);
    const ys = points.map((p) => p.score);
    const lo = Math.min(...xs, ...ys),
      hi = Math.max(...xs, ...ys);
    const pad = (hi - lo) * 0.05 || 1;
    const fg = toHex(palette.foreground);
    const grid = { stroke: toHex(palette.grid), width: 1 };
    chart.current = new uPlot(
      {
        width: size.width,
        height: CHART_HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 9 } },
        scales: { x: { time: false, range: [lo - pad, hi + pad] }, y: { range: [lo - pad, hi + pad] } },
        axes: [
          { stroke: fg, grid, ticks: grid, label: 'exact patching effect', labelSize: 14 },
          { stroke: fg, grid, ticks: grid, label: `${label} score`, labelSize: 14, size: 54 },
        ],
        series: [
          {},
          {
            label: `${label} vs exact`,
            stroke: toHex(palette.positive),
            width: 0,
            paths: () => null,
            points: { show: true, size: 6, fill: toHex(palette.positive) },
          },
          { label: 'y = x', stroke: toHex(palette.grid), width: 1, dash: [4, 4], points: { show: false } },
        ],
        hooks: { setCursor: [(u) => setActive(u.cursor.idx ?? null)] },
      },
      [xs, ys, xs],
      box,
    );
    props.onDrawn();
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [points, size.width, palette, box]);

  const move = (to: number) => {
    const i = Math.max(0, Math.min(points.length - 1, to));
    setActive(i);
    const u = chart.current;
    if (u) u.setCursor({ left: u.valToPos(points[i]!.exact, 'x'), top: u.valToPos(points[i]!.score, 'y') });
  };
  const onKeyDown = (event: KeyboardEvent) => {
    const at = active ?? -1;
    if (event.key === 'ArrowRight' || event.key === 'ArrowDown') move(at + 1);
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') move(at - 1);
    else if (event.key === 'Home') move(0);
    else if (event.key === 'End') move(points.length - 1);
    else if (event.key === 'Enter' && active !== null && points[active]) props.onSelect(points[active]);
    else return;
    event.preventDefault();
  };
  const point = active !== null ? points[active] : undefined;
  return (
    <div class="attribution-scatter">
      <div class="attribution-caption">
        {label} against exact activation patching, per head (denoising, metric units) · Pearson r ={' '}
        <span class="attribution-r">{props.r === null ? 'n/a' : props.r.toFixed(3)}</span> · dashed: y = x
      </div>
      <div
        class="attribution-scatter-plot"
        ref={boxRef}
        tabIndex={0}
        role="application"
        aria-label={`Scatter of ${points.length} heads: exact patching effect (x) against ${label} score (y), Pearson r ${props.r === null ? 'not defined' : props.r.toFixed(3)}. Arrow keys move between heads, Enter selects.`}
        onKeyDown={onKeyDown}
        onClick={() => point && props.onSelect(point)}
      />
      <div class="attribution-point" aria-live="polite">
        {point ? describePoint(point, props.method) : 'Hover a point (or focus the chart and use the arrow keys) to name its head.'}
      </div>
    </div>
  );
}
