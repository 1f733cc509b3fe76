/**
 * Features: a prompt's sparse-dictionary features, one dictionary layer (hook) at a time: the
 * tokens (arrow keys move between them), the top features of the chosen position with their
 * labels or top logits, the reconstruction error and its share of the hook's norm per position,
 * and the feature × position activation heatmap (the Lab's canvas heatmap and sequential scale;
 * Enter on a cell picks that feature and position for steering). The steering form ablates,
 * sets, scales or adds to features at chosen positions and shows the predictions before and after.
 */
import './features.css';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FeatureEdit, LayerFeatures } from '../../../../protocol/features.js';
import { CanvasHeatmap, type CanvasHeatmapHandle } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { ViewFrame } from '../../components/view-frame.js';
import { sequentialColour, toHex } from '../../shared/colour.js';
import { formatProb, tokenLabel, truncateLabel } from '../../shared/format.js';
import { escapeXml } from '../../shared/svg.js';
import { bosPositions, tokenAxisLabels, tokenDisplay, tokenQuoted, tokenTitle } from '../../shared/token-display.js';
import {
  activeCounts,
  addEdit,
  describeEdit,
  errorRows,
  featureGrid,
  featureLabel,
  featureName,
  parseSteerForm,
  predictionChanges,
  topFeaturesAt,
  type SteerForm,
  type SteerMode,
} from './features-model.js';

const MARGINS = { left: 64, top: 44, right: 6, bottom: 4 };
const MODES: ReadonlyArray<{ mode: SteerMode; label: string }> = [
  { mode: 'ablate', label: 'Ablate (set to 0)' },
  { mode: 'set', label: 'Set activation to' },
  { mode: 'scale', label: 'Scale activation by' },
  { mode: 'add', label: 'Add to activation' },
];

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');

/** The prompt's tokens as a row of buttons; one tab stop, arrow keys move, Home/End jump. */
export function TokenStrip(props: {
  tokens: { text: string; id: number; bos?: boolean; start: number; end: number }[];
  position: number;
  onPick(p: number): void;
}) {
  const refs = useRef<Array<HTMLButtonElement | null>>([]);
  const move = (p: number) => {
    const clamped = Math.max(0, Math.min(props.tokens.length - 1, p));
    props.onPick(clamped);
    refs.current[clamped]?.focus();
  };
  return (
    <div class="feature-tokens" role="toolbar" aria-label="Prompt tokens: arrow keys choose the position">
      {props.tokens.map((t, i) => (
        <button
          type="button"
          ref={(el) => {
            refs.current[i] = el;
          }}
          class={`feature-token token${t.bos ? ' token-bos' : ''}${i === props.position ? ' selected' : ''}`}
          tabIndex={i === props.position ? 0 : -1}
          aria-pressed={i === props.position}
          title={tokenTitle(t, i)}
          onClick={() => props.onPick(i)}
          onKeyDown={(e) => {
            const step = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity }[e.key];
            if (step === undefined) return;
            e.preventDefault();
            move(Number.isFinite(step) ? i + step : step < 0 ? 0 : props.tokens.length - 1);
          }}
        >
          {tokenDisplay(t)}
        </button>
      ))}
    </div>
  );
}

export function FeaturesView() {
  const { state, palette, actions } = useLab();
  const { result, dictionaryName, steered, busy } = state.features;
  const [layerIndex, setLayerIndex] = useState(0);
  const [position, setPosition] = useState(0);
  const [form, setForm] = useState<SteerForm>({ layer: 0, feature: '', mode: 'ablate', amount: '', positions: '' });
  const [edits, setEdits] = useState<FeatureEdit[]>([]);
  const [formError, setFormError] = useState<string | null>(null);
  const [runError, setRunError] = useState<string | null>(null);
  const [drawn, setDrawn] = useState(false);
  const heatmap = useRef<CanvasHeatmapHandle | null>(null);

  const nPos = result?.tokens.length ?? 0;
  // A new result: start at its first layer and last position, with no edits.
  useEffect(() => {
    if (!result) return;
    setLayerIndex(0);
    setPosition(Math.max(0, result.tokens.length - 1));
    setEdits([]);
    setFormError(null);
    setRunError(null);
    setForm((f) => ({ ...f, layer: result.layers[0]?.layer ?? 0, feature: '', positions: '' }));
  }, [result]);

  const layer: LayerFeatures | undefined = result?.layers[Math.min(layerIndex, result.layers.length - 1)];
  const grid = useMemo(() => (layer ? featureGrid(layer, nPos) : null), [layer, nPos]);
  const top = useMemo(() => (layer ? topFeaturesAt(layer, Math.min(position, nPos - 1)) : []), [layer, position, nPos]);
  const errors = useMemo(() => (layer ? errorRows(layer) : []), [layer]);
  const counts = useMemo(() => (layer ? activeCounts(layer, nPos) : []), [layer, nPos]);
  const rowLabels = useMemo(() => (grid && layer ? grid.features.map((f) => `#${f}`) : []), [grid, layer]);
  const colLabels = useMemo(() => (result ? tokenAxisLabels(result.tokens, 10) : []), [result]);
  const muted = useMemo(() => (result ? bosPositions(result.tokens) : new Set<number>()), [result]);
  const changes = useMemo(() => (steered ? predictionChanges(steered.result.before, steered.result.after) : []), [steered]);

  const pick = (feature: number, at?: number) => {
    if (!layer) return;
    setForm((f) => ({ ...f, layer: layer.layer, feature: String(feature), positions: at === undefined ? f.positions : String(at) }));
    setFormError(null);
  };
  const add = () => {
    if (!result) return;
    const parsed = parseSteerForm(form, { layers: result.layers, nPositions: nPos });
    if (!parsed.ok) return setFormError(parsed.error);
    const next = addEdit(edits, parsed.edit);
    if (typeof next === 'string') return setFormError(next);
    setEdits(next);
    setFormError(null);
  };
  const run = async () => {
    if (edits.length === 0) return setFormError('Add at least one edit first.');
    setRunError(null);
    try {
      await actions.steerFeatures(edits, position);
    } catch (error) {
      setRunError(errorText(error));
    }
  };

  const subtitle = result
    ? `${dictionaryName} · ${result.dictionary.kind.replace(/_/g, ' ')} · ${result.layers.length} layer${result.layers.length === 1 ? '' : 's'} · ${nPos} tokens`
    : '';
  const describeCell = (c: { row: number; col: number }): string => {
    if (!grid || !layer || !result) return '';
    const f = grid.features[c.row]!;
    const label = featureLabel(layer, f);
    return `${featureName(layer.layer, f)} at ${c.col} ${tokenQuoted(result.tokens[c.col])}: ${grid.values[c.row * grid.cols + c.col]!.toFixed(3)}${label ? ` · ${label}` : ''}`;
  };

  return (
    <ViewFrame
      view="features"
      drawn={drawn && result !== null}
      subtitle={subtitle}
      exporter={{ png: () => heatmap.current!.png(), svg: () => heatmap.current!.svg() }}
      controls={
        result && result.layers.length > 1 ? (
          <label class="control">
            <span>Hook</span>
            <select aria-label="Dictionary layer" value={layerIndex} onChange={(e) => setLayerIndex(Number((e.target as HTMLSelectElement).value))}>
              {result.layers.map((l, i) => (
                <option value={i}>
                  L{l.layer} · {l.inputHook}
                </option>
              ))}
            </select>
          </label>
        ) : undefined
      }
    >
      {!result || !layer || !grid ? (
        <div class="placeholder">
          {busy.features ? 'Computing features…' : 'No features yet: run "Circuit Trace: Load Dictionary…", then "Show Features" on a prompt.'}
        </div>
      ) : (
        <div class="features-layout">
          <div class="features-main">
            <TokenStrip tokens={result.tokens} position={position} onPick={setPosition} />
            <div class="features-columns">
              <table class="feature-table" aria-label={`Top features at position ${position}, layer ${layer.layer}`}>
                <caption>
                  Top features at {position} {tokenQuoted(result.tokens[position])} · {counts[position] ?? 0} active · {layer.inputHook}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Feature</th>
                    <th scope="col">Activation</th>
                    <th scope="col">Label or top logits</th>
                  </tr>
                </thead>
                <tbody>
                  {top.length === 0 && (
                    <tr>
                      <td colSpan={3}>No feature is active here.</td>
                    </tr>
                  )}
                  {top.map((t) => (
                    <tr>
                      <td>
                        <button
                          type="button"
                          class="link-button"
                          aria-label={`Steer ${featureName(layer.layer, t.feature)}`}
                          onClick={() => pick(t.feature, position)}
                        >
                          {featureName(layer.layer, t.feature)}
                        </button>
                      </td>
                      <td class="numeric">{t.activation.toFixed(3)}</td>
                      <td class="feature-label" title={t.label}>
                        {t.label || '–'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <table class="feature-table error-table" aria-label={`Reconstruction error of ${layer.outputHook} per position`}>
                <caption>Reconstruction error of {layer.outputHook}</caption>
                <thead>
                  <tr>
                    <th scope="col">Token</th>
                    <th scope="col">‖error‖</th>
                    <th scope="col">Share of ‖hook‖</th>
                  </tr>
                </thead>
                <tbody>
                  {errors.map((e) => (
                    <tr class={e.position === position ? 'selected' : ''}>
                      <td class="token">{truncateLabel(tokenDisplay(result.tokens[e.position]), 14)}</td>
                      <td class="numeric">{e.error.toFixed(3)}</td>
                      <td class="numeric">
                        <span class="share-track" aria-hidden="true">
                          <span class="share-bar" style={{ width: `${Math.min(100, e.share * 100).toFixed(1)}%`, background: toHex(palette.negative) }} />
                        </span>
                        {pct(e.share)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div class="feature-heatmap">
              <CanvasHeatmap
                handle={heatmap}
                rows={grid.rows}
                cols={grid.cols}
                colourAt={(r, c) => sequentialColour(grid.values[r * grid.cols + c]!, grid.max, palette)}
                rowLabels={rowLabels}
                colLabels={colLabels}
                mutedLabels={muted}
                mono
                square={false}
                margins={MARGINS}
                palette={palette}
                drawKey={grid}
                highlightCol={position}
                svgOverlay={() => `<title>${escapeXml(`Feature activations, ${layer.inputHook}`)}</title>`}
                ariaLabel={`Feature × position activations of ${layer.inputHook}: ${grid.rows} features. Arrow keys move, Enter picks the feature to steer.`}
                describe={describeCell}
                tooltip={(c) => <div>{describeCell(c)}</div>}
                onSelect={(c) => {
                  setPosition(c.col);
                  pick(grid.features[c.row]!, c.col);
                }}
                onDrawn={() => {
                  if (!drawn) setDrawn(true);
                }}
              />
            </div>
          </div>
          <form class="patch-form steer-form" aria-label="Steer features" onSubmit={(e) => e.preventDefault()}>
            <label class="field">
              <span>Layer</span>
              <select value={form.layer} onChange={(e) => setForm({ ...form, layer: Number((e.target as HTMLSelectElement).value) })}>
                {result.layers.map((l) => (
                  <option value={l.layer}>
                    L{l.layer} ({l.dSae.toLocaleString('en-US')} features)
                  </option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>Feature</span>
              <input
                type="text"
                inputMode="numeric"
                value={form.feature}
                placeholder="index"
                onInput={(e) => setForm({ ...form, feature: (e.target as HTMLInputElement).value })}
              />
            </label>
            <label class="field">
              <span>Edit</span>
              <select value={form.mode} onChange={(e) => setForm({ ...form, mode: (e.target as HTMLSelectElement).value as SteerMode })}>
                {MODES.map((m) => (
                  <option value={m.mode}>{m.label}</option>
                ))}
              </select>
            </label>
            {form.mode !== 'ablate' && (
              <label class="field">
                <span>{form.mode === 'scale' ? 'Factor' : 'Value'}</span>
                <input
                  type="text"
                  inputMode="decimal"
                  value={form.amount}
                  onInput={(e) => setForm({ ...form, amount: (e.target as HTMLInputElement).value })}
                />
              </label>
            )}
            <label class="field">
              <span>Positions (empty: all; e.g. 3, 5-7)</span>
              <input type="text" value={form.positions} onInput={(e) => setForm({ ...form, positions: (e.target as HTMLInputElement).value })} />
            </label>
            <button type="button" class="primary" onClick={add}>
              <span class="codicon codicon-add" aria-hidden="true" /> Add edit
            </button>
            {formError && (
              <div class="form-error" role="alert">
                {formError}
              </div>
            )}
            <ul class="edit-list" aria-label="Edits to apply">
              {edits.map((e, i) => (
                <li>
                  <span>{describeEdit(e)}</span>
                  <button type="button" class="icon-button" aria-label={`Remove ${describeEdit(e)}`} onClick={() => setEdits(edits.filter((_, j) => j !== i))}>
                    <span class="codicon codicon-close" aria-hidden="true" />
                  </button>
                </li>
              ))}
            </ul>
            <button type="button" class="primary" disabled={busy.steer || edits.length === 0} onClick={() => void run()}>
              <span class={`codicon ${busy.steer ? 'codicon-loading codicon-modifier-spin' : 'codicon-play'}`} aria-hidden="true" />{' '}
              {busy.steer ? 'Steering…' : `Steer and predict at ${position}`}
            </button>
            {runError && (
              <div class="form-error" role="alert">
                {runError}
              </div>
            )}
            {steered && (
              <table class="feature-table steer-table" aria-label="Predictions before and after steering">
                <caption>
                  Next token at {steered.result.position} {tokenQuoted(result.tokens[steered.result.position])}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Token</th>
                    <th scope="col">Before</th>
                    <th scope="col">After</th>
                  </tr>
                </thead>
                <tbody>
                  {changes.map((c) => (
                    <tr>
                      <td class="token">{truncateLabel(tokenLabel(c.token), 16)}</td>
                      <td class="numeric">{c.before === null ? '–' : `${formatProb(c.before)} (#${c.rankBefore! + 1})`}</td>
                      <td class="numeric">{c.after === null ? '–' : `${formatProb(c.after)} (#${c.rankAfter! + 1})`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </form>
        </div>
      )}
    </ViewFrame>
  );
}
