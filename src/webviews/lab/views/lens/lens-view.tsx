/**
 * The logit lens: a depth × position table of top guesses with their probabilities (every
 * position when the result has lens.perPosition, else the traced position), and a uPlot chart of
 * the target's probability and rank through depth. Click a cell to select its layer and position.
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { sequentialColour, textColourOn, toHex } from '../../shared/colour.js';
import { formatProb, tokenLabel, truncateLabel } from '../../shared/format.js';
import { escapeXml, svgDocument, svgText } from '../../shared/svg.js';
import { useSize } from '../../shared/use-size.js';
import { lensTable, settlingDepth, targetSeries } from './lens-model.js';

const CHART_HEIGHT = 150;

export function LensView() {
  const { state, palette, actions } = useLab();
  const result = state.result;
  const [drawn, setDrawn] = useState(false);
  const chart = useRef<uPlot | null>(null);
  const [size, chartRef, chartBox] = useSize<HTMLDivElement>();
  const table = useMemo(() => (result ? lensTable(result.lens, result.tokens) : null), [result]);
  const series = useMemo(() => (result ? targetSeries(result.lens) : null), [result]);
  const target = result ? JSON.stringify(result.trace.target) : '';

  useLayoutEffect(() => {
    const box = chartBox;
    chart.current?.destroy();
    chart.current = null;
    if (!box || !series || !result || size.width === 0) return;
    const fg = toHex(palette.foreground);
    const grid = { stroke: toHex(palette.grid), width: 1 };
    chart.current = new uPlot(
      {
        width: size.width,
        height: CHART_HEIGHT,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, prob: { range: [0, 1] }, rank: { distr: 3, dir: -1, range: (_u, _min, max) => [1, Math.max(10, max)] } },
        axes: [
          { stroke: fg, grid, ticks: grid, values: (_u, ticks) => ticks.map((t) => result.lens.layers[t]?.label.replace('resid_', '') ?? '') },
          { scale: 'prob', stroke: fg, grid, ticks: grid, values: (_u, ticks) => ticks.map((t) => `${Math.round(t * 100)}%`), size: 54 },
          { scale: 'rank', side: 1, stroke: fg, grid: { show: false }, ticks: grid, size: 44 },
        ],
        series: [
          { label: 'depth' },
          {
            label: `P(${target})`,
            scale: 'prob',
            stroke: toHex(palette.positive),
            width: 2,
            points: { show: true },
            value: (_u, v) => (v == null ? '–' : formatProb(v)),
          },
          {
            label: 'rank',
            scale: 'rank',
            stroke: toHex(palette.negative),
            width: 2,
            dash: [5, 4],
            points: { show: true },
            value: (_u, v) => (v == null ? '–' : String(v)),
          },
        ],
      },
      [series.depth, series.prob, series.rank],
      box,
    );
    setDrawn(true);
    actions.reportDrawn('lens');
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [series, size.width, palette, chartBox]);

  const settle = result ? settlingDepth(result.lens) : null;

  const exportSvg = (): { svg: string; width: number; height: number } => {
    if (!table || !result || !series) throw new Error('nothing to export');
    const cellW = 84;
    const cellH = 18;
    const left = 110;
    const top = 24;
    const width = left + table.positions.length * cellW + 10;
    const tableH = top + table.rows.length * cellH;
    const chartTop = tableH + 20;
    const chartH = 120;
    const height = chartTop + chartH + 30;
    const parts: string[] = [];
    table.positions.forEach((p, c) =>
      parts.push(svgText(left + c * cellW + cellW / 2, top - 8, `${p} ${truncateLabel(table.headings[c]!.label, 10)}`, palette.foreground, 'middle')),
    );
    table.rows.forEach((label, r) => {
      parts.push(svgText(left - 6, top + r * cellH + 13, label, palette.foreground, 'end'));
      table.cells[r]!.forEach((cell, c) => {
        if (!cell) return;
        const bg = sequentialColour(cell.prob, 1, palette);
        parts.push(`<rect x="${left + c * cellW}" y="${top + r * cellH}" width="${cellW - 1}" height="${cellH - 1}" fill="${toHex(bg)}"/>`);
        parts.push(
          svgText(left + c * cellW + 4, top + r * cellH + 13, `${truncateLabel(tokenLabel(cell.token), 8)} ${formatProb(cell.prob)}`, textColourOn(bg)),
        );
      });
    });
    // The chart: probability (solid) and rank on a log axis (dashed), depth on x.
    const chartW = width - left - 20;
    const x = (d: number) => left + (series.depth.length > 1 ? (d / (series.depth.length - 1)) * chartW : chartW / 2);
    const maxRank = Math.max(10, ...series.rank);
    const yProb = (p: number) => chartTop + chartH - p * chartH;
    const yRank = (r: number) => chartTop + (Math.log(r) / Math.log(maxRank)) * chartH;
    parts.push(`<rect x="${left}" y="${chartTop}" width="${chartW}" height="${chartH}" fill="none" stroke="${toHex(palette.grid)}"/>`);
    parts.push(
      `<polyline fill="none" stroke="${toHex(palette.positive)}" stroke-width="2" points="${series.prob.map((p, i) => `${x(i).toFixed(1)},${yProb(p).toFixed(1)}`).join(' ')}"/>`,
    );
    parts.push(
      `<polyline fill="none" stroke="${toHex(palette.negative)}" stroke-width="2" stroke-dasharray="5 4" points="${series.rank.map((r, i) => `${x(i).toFixed(1)},${yRank(r).toFixed(1)}`).join(' ')}"/>`,
    );
    parts.push(svgText(left, chartTop + chartH + 16, `P(${target}) solid, rank (log, 1 at top) dashed; depth left to right`, palette.foreground));
    parts.push(`<title>${escapeXml(`Logit lens for ${target}`)}</title>`);
    return { svg: svgDocument(width, height, palette.background, parts.join(''), palette.fontFamily), width, height };
  };

  const pos = state.selection.position;
  return (
    <ViewFrame
      view="lens"
      drawn={drawn && result !== null}
      subtitle={result ? `target ${target}${settle !== null ? ` · top guess from ${result.lens.layers[settle]?.label}` : ''}` : ''}
      exporter={{
        svg: () => exportSvg().svg,
        png: async () => {
          const e = exportSvg();
          return svgPng(e.svg, e.width, e.height);
        },
      }}
    >
      {table && result ? (
        <div class="lens-layout">
          <div class="lens-table-scroll">
            <table class="lens-table" aria-label="Top guess at each depth (rows) and position (columns)">
              <thead>
                <tr>
                  <th scope="col">depth</th>
                  {table.positions.map((p, c) => {
                    const heading = table.headings[c]!;
                    return (
                      <th scope="col" class={p === pos ? 'selected' : ''} title={heading.title}>
                        <span class={`token${heading.bos ? ' token-bos' : ''}`}>{heading.label}</span>
                      </th>
                    );
                  })}
                </tr>
              </thead>
              <tbody>
                {table.rows.map((label, r) => (
                  <tr class={r === state.selection.layer ? 'selected' : ''}>
                    <th scope="row">{label}</th>
                    {table.cells[r]!.map((cell, c) => {
                      if (!cell) return <td />;
                      const bg = sequentialColour(cell.prob, 1, palette);
                      const position = table.positions[c]!;
                      return (
                        <td
                          class={`lens-cell${position === pos ? ' selected-col' : ''}`}
                          style={{ background: toHex(bg), color: toHex(textColourOn(bg)) }}
                          title={`${label}, position ${position}: ${JSON.stringify(cell.token)} ${formatProb(cell.prob)}`}
                          onClick={() => actions.select({ ...state.selection, position, layer: Math.min(r, state.nLayers - 1) })}
                        >
                          <span class="token lens-token">{cell.token}</span>
                          <span class="lens-prob">{formatProb(cell.prob)}</span>
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="lens-chart" ref={chartRef} aria-label={`Probability and rank of ${target} through depth`} />
        </div>
      ) : (
        <div class="placeholder">
          {state.phase === 'streaming' ? 'The lens is read when the forward pass finishes…' : 'Run an analysis to read the logit lens.'}
        </div>
      )}
    </ViewFrame>
  );
}
