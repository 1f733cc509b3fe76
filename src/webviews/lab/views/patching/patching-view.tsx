/**
 * Activation patching: a form that asks the host for a sweep (clean / corrupt prompts, target,
 * optional contrast, kind), and the sweep's result as layer × head and layer × position heatmaps
 * of the normalised metric (recovery), plus the strongest components as a sorted bar chart.
 * Clicking a component selects it in every view.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { PatchKind, PatchSweepResult } from '../../../../protocol/analysis.js';
import type { PatchRequest } from '../../../../protocol/engine.js';
import { CanvasHeatmap, type CanvasHeatmapHandle, type Cell } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { PromptPairFields } from '../../components/prompt-pair-fields.js';
import { ViewFrame } from '../../components/view-frame.js';
import { mix, divergingColour, toHex, type Rgb } from '../../shared/colour.js';
import { formatSigned } from '../../shared/format.js';
import { escapeXml } from '../../shared/svg.js';
import { promptText, tokenDisplay } from '../../shared/token-display.js';
import { barAxisLabel, describeEntry, entryMetricLine, entryRecoveryLine, patchSubtitle, patchSvgTitle, recoveryLabel } from './patch-metric.js';
import { entryName, patchView, selectionOf, strongestEntries, type PatchGrid } from './patch-model.js';

const KINDS: { kind: Exclude<PatchKind, 'single'>; label: string }[] = [
  { kind: 'heads-last', label: 'Heads (last position)' },
  { kind: 'heads-all', label: 'Heads × positions' },
  { kind: 'resid', label: 'Residual stream' },
  { kind: 'attn', label: 'Attention output' },
  { kind: 'mlp', label: 'MLP output' },
];
const MARGINS = { left: 30, top: 40, right: 6, bottom: 4 };
const TOP_K = 15;

function PatchForm() {
  const { state, actions } = useLab();
  const r = state.result;
  const [clean, setClean] = useState(state.prompt);
  const [corrupt, setCorrupt] = useState('');
  const [target, setTarget] = useState(r?.trace.target ?? r?.predictions[0]?.token ?? '');
  const [contrast, setContrast] = useState(r?.trace.contrast ?? '');
  const [kind, setKind] = useState<Exclude<PatchKind, 'single'>>('heads-last');
  const [error, setError] = useState<string | null>(null);

  // Prefill from an analysis that arrives after the form was shown, without overwriting what was typed.
  useEffect(() => {
    if (!r) return;
    setClean((v) => v || r.prompt);
    setTarget((v) => v || r.trace.target);
    setContrast((v) => v || (r.trace.contrast ?? ''));
  }, [r]);

  // A sweep run from elsewhere (the Patch CodeLens) shows what it ran, so it can be rerun or varied.
  const patch = state.patch;
  useEffect(() => {
    if (!patch) return;
    setClean(promptText(patch.cleanTokens));
    setCorrupt(promptText(patch.corruptTokens));
    setTarget(patch.target);
    setContrast(patch.contrast ?? '');
    if (patch.kind !== 'single') setKind(patch.kind);
  }, [patch]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!clean.trim() || !corrupt.trim() || !target) {
      setError('Give a clean prompt, a corrupt prompt and a target token.');
      return;
    }
    const request: PatchRequest = { clean, corrupt, target: { text: target }, kind, ...(contrast ? { contrast: { text: contrast } } : {}) };
    try {
      await actions.runPatch(request);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <form class="patch-form" onSubmit={(e) => void submit(e)} aria-label="Run an activation-patching sweep">
      <PromptPairFields
        values={{ clean, corrupt, target, contrast }}
        onChange={(field, value) => ({ clean: setClean, corrupt: setCorrupt, target: setTarget, contrast: setContrast })[field](value)}
      />
      <label class="field">
        <span>Patch</span>
        <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as Exclude<PatchKind, 'single'>)}>
          {KINDS.map((k) => (
            <option value={k.kind}>{k.label}</option>
          ))}
        </select>
      </label>
      <button type="submit" class="primary" disabled={state.patchBusy}>
        <span class={`codicon ${state.patchBusy ? 'codicon-loading codicon-modifier-spin' : 'codicon-play'}`} aria-hidden="true" />{' '}
        {state.patchBusy ? 'Running…' : 'Run sweep'}
      </button>
      {error && (
        <div class="form-error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function GridHeatmap(props: {
  grid: PatchGrid;
  maxAbs: number;
  result: PatchSweepResult;
  colLabels: string[];
  handle: { current: CanvasHeatmapHandle | null };
  highlight: Cell | undefined;
  onDrawn: () => void;
}) {
  const { state, palette, actions } = useLab();
  const { grid } = props;
  const empty: Rgb = mix(palette.background, palette.grid, 0.3);
  const rowLabels = useMemo(() => Array.from({ length: grid.rows }, (_, l) => `L${l}`), [grid.rows]);
  const entryAt = (c: Cell) => props.result.entries[grid.entryIndex[c.row * grid.cols + c.col]!];
  return (
    <div class="patch-grid">
      <div class="patch-grid-caption">{grid.caption}</div>
      <CanvasHeatmap
        handle={props.handle}
        rows={grid.rows}
        cols={grid.cols}
        colourAt={(r, c) => {
          const v = grid.values[r * grid.cols + c]!;
          return Number.isNaN(v) ? empty : divergingColour(v, props.maxAbs, palette);
        }}
        rowLabels={rowLabels}
        colLabels={props.colLabels}
        square={false}
        margins={MARGINS}
        palette={palette}
        drawKey={grid}
        highlightCell={props.highlight}
        svgOverlay={() => `<title>${escapeXml(patchSvgTitle(props.result, grid.caption))}</title>`}
        ariaLabel={`Patching, ${recoveryLabel(props.result)}, ${grid.caption}. Arrow keys move, Enter selects.`}
        describe={(c) => {
          const e = entryAt(c);
          return e ? describeEntry(props.result, entryName(props.result.kind, e), e) : 'not patched';
        }}
        tooltip={(c) => {
          const e = entryAt(c);
          return e ? (
            <>
              <div class="tooltip-title">{entryName(props.result.kind, e)}</div>
              <div>{entryRecoveryLine(e)}</div>
              <div>{entryMetricLine(props.result, e)}</div>
            </>
          ) : (
            <div>not patched</div>
          );
        }}
        onSelect={(c) => {
          const e = entryAt(c);
          if (e) actions.select({ ...state.selection, ...selectionOf(e) });
        }}
        onDrawn={props.onDrawn}
      />
    </div>
  );
}

export function PatchingView() {
  const { state, palette, actions } = useLab();
  const patch = state.patch;
  const [drawn, setDrawn] = useState(false);
  const headHandle = useRef<CanvasHeatmapHandle | null>(null);
  const positionHandle = useRef<CanvasHeatmapHandle | null>(null);
  const view = useMemo(() => (patch ? patchView(patch, state.selection, state.nHeads || undefined) : null), [patch, state.selection, state.nHeads]);
  const top = useMemo(() => (patch ? strongestEntries(patch, TOP_K) : []), [patch]);
  const topMax = Math.max(1e-12, ...top.map((t) => Math.abs(t.entry.recovery)));
  const positionLabels = useMemo(() => (patch ? patch.corruptTokens.map((t) => tokenDisplay(t)) : []), [patch]);
  const headLabels = useMemo(() => (view?.headGrid ? Array.from({ length: view.headGrid.cols }, (_, h) => `H${h}`) : []), [view?.headGrid?.cols]);
  const sel = state.selection;
  const onDrawn = () => {
    if (!drawn) setDrawn(true);
  };

  return (
    <ViewFrame
      view="patching"
      drawn={drawn && patch !== null}
      subtitle={patch ? patchSubtitle(patch) : ''}
      exporter={{
        png: () => (headHandle.current ?? positionHandle.current)!.png(),
        svg: () => (headHandle.current ?? positionHandle.current)!.svg(),
      }}
    >
      <div class="patching-layout">
        <PatchForm />
        {patch && view ? (
          <div class="patch-results">
            {view.headGrid && (
              <GridHeatmap
                grid={view.headGrid}
                maxAbs={view.maxAbs}
                result={patch}
                colLabels={headLabels}
                handle={headHandle}
                highlight={sel.layer !== undefined && sel.head !== undefined ? { row: sel.layer, col: sel.head } : undefined}
                onDrawn={onDrawn}
              />
            )}
            {view.positionGrid && (
              <GridHeatmap
                grid={view.positionGrid}
                maxAbs={view.maxAbs}
                result={patch}
                colLabels={positionLabels}
                handle={positionHandle}
                highlight={sel.layer !== undefined && sel.position !== undefined ? { row: sel.layer, col: sel.position } : undefined}
                onDrawn={onDrawn}
              />
            )}
            <div class="patch-bars">
              <div class="patch-bars-axis">{barAxisLabel(patch)}</div>
              <ol class="patch-bars-list" aria-label={`The ${top.length} strongest components by ${recoveryLabel(patch)}`}>
                {top.map(({ entry, name }) => (
                  <li>
                    <button
                      type="button"
                      class="patch-bar-row"
                      onClick={() => actions.select({ ...state.selection, ...selectionOf(entry) })}
                      title={describeEntry(patch, name, entry)}
                      aria-label={`${describeEntry(patch, name, entry)}; select`}
                    >
                      <span class="patch-bar-name">{name}</span>
                      <span class="patch-bar-track">
                        <span
                          class="patch-bar"
                          style={{
                            width: `${((Math.abs(entry.recovery) / topMax) * 100).toFixed(1)}%`,
                            background: toHex(entry.recovery >= 0 ? palette.positive : palette.negative),
                          }}
                        />
                      </span>
                      <span class="patch-bar-value">{formatSigned(entry.recovery)}</span>
                    </button>
                  </li>
                ))}
              </ol>
            </div>
          </div>
        ) : (
          <div class="placeholder">
            {state.patchBusy ? 'Running the sweep…' : 'No sweep yet: fill in the form to patch clean activations into a corrupted run.'}
          </div>
        )}
      </div>
    </ViewFrame>
  );
}
