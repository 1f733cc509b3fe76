/**
 * The attention heatmap of the selected head: query × key with token labels on both axes, the
 * causal triangle masked, a tooltip with the exact weight; toggles for the head, the layer's
 * average over heads, and the census detection pattern. Click a row to select that position.
 * While an analysis streams, it shows the streamed pattern of its layer as soon as it arrives.
 */
import { useMemo, useRef, useState } from 'preact/hooks';
import { CanvasHeatmap, type CanvasHeatmapHandle, type Cell } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { mix, sequentialColour, type Rgb } from '../../shared/colour.js';
import { headName } from '../../shared/format.js';
import { BOS_TITLE, bosPositions, isBos, tokenAxisLabels, tokenQuoted } from '../../shared/token-display.js';
import { selectPosition } from '../../state/selection.js';
import { averageOverHeads, censusPatternFor, headPattern, layerBlock, type AttentionMode, type CensusPattern } from './attention-model.js';

const MARGINS = { left: 78, top: 64, right: 8, bottom: 6 };

const MODE_LABELS: Record<AttentionMode, string> = { head: 'Head', layer: 'Layer avg', census: 'Census pattern' };

export function AttentionView() {
  const { state, palette, actions } = useLab();
  const [mode, setMode] = useState<AttentionMode>('head');
  const [drawn, setDrawn] = useState(false);
  const handle = useRef<CanvasHeatmapHandle | null>(null);
  const n = state.nTokens;
  const nHeads = state.nHeads;
  const result = state.result;
  // The layer and head shown: the selection, else (while streaming) the newest layer that arrived.
  const newest = state.streamed.reduce((last, p, i) => (p ? i : last), -1);
  const layer = state.selection.layer ?? (result ? 0 : Math.max(0, newest));
  const head = state.selection.head ?? 0;

  const source = useMemo((): { values: Float32Array | Uint8Array; census: CensusPattern | null } | null => {
    if (n === 0 || nHeads === 0) return null;
    const block = result ? layerBlock(result.attention, nHeads, n, layer) : (state.streamed[layer] ?? null);
    if (!block) return null;
    if (mode === 'layer') return { values: averageOverHeads(block, nHeads, n), census: null };
    if (mode === 'census' && result) {
      const census = censusPatternFor(result, layer, head);
      if (census) return { values: census.pattern, census };
    }
    return { values: result ? headPattern(result.attention, nHeads, n, layer, head) : block.subarray(head * n * n, (head + 1) * n * n), census: null };
  }, [result, state.streamed, layer, head, mode, n, nHeads]);

  const masked: Rgb = mix(palette.background, palette.foreground, 0.1);
  const colourAt = (q: number, k: number): Rgb | null => {
    if (!source) return null;
    if (k > q) return masked;
    // √weight: attention mass concentrates on a few keys; the square root keeps the rest visible
    // (the tooltip gives the exact weight).
    return sequentialColour(Math.sqrt(source.values[q * n + k]!), 1, palette);
  };
  const labels = useMemo(() => (result ? tokenAxisLabels(result.tokens, 12) : Array.from({ length: n }, (_, i) => String(i))), [result, n]);
  const tokenText = (i: number) => (result ? tokenQuoted(result.tokens[i]) : `#${i}`);
  const muted = useMemo(() => (result ? bosPositions(result.tokens) : undefined), [result]);
  const bosNote = (i: number) => (result && isBos(result.tokens[i]) ? ` (${BOS_TITLE})` : '');
  const what = mode === 'layer' ? `L${layer} average` : headName(layer, head);

  const onDrawn = () => {
    if (!drawn && result) setDrawn(true);
    if (result) actions.reportDrawn('heatmap');
  };

  const census = source?.census;
  const subtitle = source
    ? mode === 'census'
      ? census
        ? `${what}: ${census.kind} pattern (${census.source}), score ${census.score.toFixed(3)}`
        : `${what}: no detection pattern on this prompt`
      : `${what} · colour ∝ √weight`
    : '';

  return (
    <ViewFrame
      view="heatmap"
      drawn={drawn && source !== null}
      subtitle={subtitle}
      controls={
        <div class="segmented" role="radiogroup" aria-label="Attention shown">
          {(Object.keys(MODE_LABELS) as AttentionMode[]).map((m) => (
            <button
              type="button"
              role="radio"
              aria-checked={mode === m}
              class={mode === m ? 'active' : ''}
              disabled={m === 'census' && !result}
              onClick={() => setMode(m)}
            >
              {MODE_LABELS[m]}
            </button>
          ))}
        </div>
      }
      exporter={{ png: () => handle.current!.png(), svg: () => handle.current!.svg() }}
    >
      {source ? (
        <CanvasHeatmap
          handle={handle}
          rows={n}
          cols={n}
          colourAt={colourAt}
          rowLabels={labels}
          colLabels={labels}
          square
          mono
          margins={MARGINS}
          palette={palette}
          drawKey={source}
          highlightRow={state.selection.position}
          mutedLabels={muted}
          ariaLabel={`Attention pattern of ${what}, queries by keys. Arrow keys move, Enter selects the query position.`}
          describe={(c: Cell) =>
            `query ${c.row} ${tokenText(c.row)}, key ${c.col} ${tokenText(c.col)}: ${c.col > c.row ? 'masked' : source.values[c.row * n + c.col]!.toFixed(4)}`
          }
          tooltip={(c: Cell) => (
            <>
              <div class="tooltip-title">{what}</div>
              <div>
                query {c.row} <span class="token">{tokenText(c.row)}</span>
                {bosNote(c.row)}
              </div>
              <div>
                key {c.col} <span class="token">{tokenText(c.col)}</span>
                {bosNote(c.col)}
              </div>
              <div>
                {c.col > c.row
                  ? 'masked (causal)'
                  : mode === 'census'
                    ? source.values[c.row * n + c.col]
                      ? 'in the pattern'
                      : 'not in the pattern'
                    : `weight ${source.values[c.row * n + c.col]!.toFixed(4)}`}
              </div>
            </>
          )}
          onSelect={(c: Cell) => actions.select(selectPosition(state.selection, c.row))}
          onDrawn={onDrawn}
        />
      ) : (
        <div class="placeholder">{state.phase === 'streaming' ? 'Waiting for this layer…' : 'Run an analysis to see attention patterns.'}</div>
      )}
    </ViewFrame>
  );
}
