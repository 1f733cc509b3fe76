/** Predictions: the top-k next tokens as a bar chart (at the selected position when the result has them per position). */
import { useLayoutEffect, useMemo, useState } from 'preact/hooks';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { svgPng } from '../../shared/canvas.js';
import { toHex } from '../../shared/colour.js';
import { formatProb, tokenLabel, truncateLabel } from '../../shared/format.js';
import { svgDocument, svgText } from '../../shared/svg.js';
import { predictionBars, predictionsAt, predictionsNote } from './predictions-model.js';

export function PredictionsView() {
  const { state, palette, actions } = useLab();
  const result = state.result;
  const [drawn, setDrawn] = useState(false);
  const at = useMemo(() => (result ? predictionsAt(result, state.selection.position) : null), [result, state.selection.position]);
  const bars = useMemo(() => (at ? predictionBars(at.predictions) : []), [at]);

  useLayoutEffect(() => {
    if (result) {
      setDrawn(true);
      actions.reportDrawn('predictions');
    }
  }, [result, bars]);

  const exportSvg = () => {
    const rowH = 20;
    const labelW = 120;
    const barW = 260;
    const width = labelW + barW + 70;
    const height = 10 + bars.length * rowH + 10;
    const body = bars
      .map((b, i) => {
        const y = 10 + i * rowH;
        return (
          svgText(labelW - 6, y + 14, truncateLabel(tokenLabel(b.prediction.token), 18), palette.foreground, 'end') +
          `<rect x="${labelW}" y="${y + 3}" width="${(b.fraction * barW).toFixed(1)}" height="${rowH - 6}" fill="${toHex(palette.positive)}"/>` +
          svgText(labelW + b.fraction * barW + 6, y + 14, formatProb(b.prediction.prob), palette.foreground)
        );
      })
      .join('');
    return { svg: svgDocument(width, height, palette.background, body, palette.monoFontFamily), width, height };
  };

  const positionNote = at && result ? predictionsNote(result, at.position) : '';
  return (
    <ViewFrame
      view="predictions"
      drawn={drawn && result !== null}
      subtitle={positionNote}
      exporter={{
        svg: () => exportSvg().svg,
        png: async () => {
          const e = exportSvg();
          return svgPng(e.svg, e.width, e.height);
        },
      }}
    >
      {result ? (
        <ol class="prediction-list" aria-label={`Top ${bars.length} next tokens ${positionNote}`}>
          {bars.map((b, i) => (
            <li class="prediction" title={`logit ${b.prediction.logit.toFixed(3)} · id ${b.prediction.tokenId}`}>
              <span class="prediction-rank">{i + 1}</span>
              <span class="prediction-token token">{b.prediction.token}</span>
              <span class="prediction-track" aria-hidden="true">
                <span class="prediction-bar" style={{ width: `${(b.fraction * 100).toFixed(1)}%`, background: toHex(palette.positive) }} />
              </span>
              <span class="prediction-prob">{formatProb(b.prediction.prob)}</span>
            </li>
          ))}
        </ol>
      ) : (
        <div class="placeholder">
          {state.phase === 'streaming' ? 'Predictions arrive with the result…' : 'Run an analysis to see the next-token predictions.'}
        </div>
      )}
    </ViewFrame>
  );
}
