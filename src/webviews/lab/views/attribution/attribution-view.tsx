/**
 * Attribution and path patching, beside the exact patching heatmaps: a form (prompts, target,
 * contrast, method, receivers) that asks the host for an attribution map or a path-patching map;
 * path patching as a layer × head heatmap of normalized effects with the clean and corrupted logit
 * differences; attribution (AtP / AtP* / EAP-IG) as layer × head and layer × position heatmaps;
 * and the AtP-vs-exact scatter with its Pearson correlation. The heatmaps share the patching view's
 * canvas heatmap and diverging colour scale (arrow keys move, Enter selects the head or layer and
 * position in every view). A failed run (an architecture without gradient graphs, say) shows its
 * error here, in place of the heatmaps. The picture export (SVG, PNG) holds every map shown and
 * the scatter (attribution-image.ts); the JSON export is the host's (extension/export/attribution-export.ts).
 */
import './attribution.css';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  POSITION_COMPONENTS,
  type AttributionMap,
  type AttributionPrompts,
  type LabAttributionMethod,
  type PathPatchMap,
  type PositionComponent,
} from '../../../../protocol/attribution.js';
import { CanvasHeatmap, type CanvasHeatmapHandle, type Cell } from '../../components/canvas-heatmap.js';
import { useLab } from '../../components/lab-context.js';
import { PromptPairFields } from '../../components/prompt-pair-fields.js';
import { ViewFrame } from '../../components/view-frame.js';
import { divergingColour, mix, type Rgb } from '../../shared/colour.js';
import { escapeXml } from '../../shared/svg.js';
import { svgPng } from '../../shared/canvas.js';
import { scatterSvg, stackedSvg } from './attribution-image.js';
import { bosPositions, promptText, tokenDisplay } from '../../shared/token-display.js';
import {
  attributionHeadGrid,
  attributionPositionGrid,
  attributionScatter,
  attributionSubtitle,
  COMPONENT_LABELS,
  describeHeadScore,
  describePathCell,
  describePositionScore,
  exactSweepRequest,
  METHOD_LABELS,
  pathPatchGrid,
  pathPatchSubtitle,
  type MapGrid,
} from './attribution-model.js';
import { ScatterChart } from './scatter-chart.js';

const MARGINS = { left: 30, top: 40, right: 6, bottom: 4 };
const METHODS: readonly LabAttributionMethod[] = ['atp', 'atp-star', 'eap-ig'];

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Saves one heatmap on its own (PNG or SVG), beside the view's export of the whole view. */
function HeatmapExport(props: { label: string; handle: { current: CanvasHeatmapHandle | null } }) {
  const { actions } = useLab();
  const save = (format: 'png' | 'svg'): void => {
    const heatmap = props.handle.current;
    if (!heatmap) return;
    actions
      .exportView('attribution', format, format === 'png' ? heatmap.png() : heatmap.svg())
      .catch((error: unknown) => actions.log('warn', `export of the ${props.label} heatmap as ${format} failed: ${errorText(error)}`));
  };
  return (
    <span class="attribution-heatmap-export">
      {(['png', 'svg'] as const).map((format) => (
        <button
          type="button"
          class="icon-button"
          aria-label={`Export the ${props.label} heatmap as ${format.toUpperCase()}`}
          title={`Export this heatmap as ${format.toUpperCase()}`}
          onClick={() => save(format)}
        >
          <span class={`codicon codicon-${format === 'png' ? 'device-camera' : 'file-media'}`} aria-hidden="true" />
        </button>
      ))}
    </span>
  );
}

function MapHeatmap(props: {
  grid: MapGrid;
  label: string;
  colLabels: readonly string[];
  muted?: ReadonlySet<number>;
  mono?: boolean;
  highlight: Cell | undefined;
  describe: (cell: Cell) => string;
  onSelect: (cell: Cell) => void;
  handle: { current: CanvasHeatmapHandle | null };
  onDrawn: () => void;
}) {
  const { palette } = useLab();
  const { grid } = props;
  const empty: Rgb = mix(palette.background, palette.grid, 0.3);
  const rowLabels = useMemo(() => Array.from({ length: grid.rows }, (_, l) => `L${l}`), [grid.rows]);
  return (
    <>
      <HeatmapExport label={props.label} handle={props.handle} />
      <CanvasHeatmap
        handle={props.handle}
        rows={grid.rows}
        cols={grid.cols}
        colourAt={(r, c) => {
          const v = grid.values[r * grid.cols + c]!;
          return Number.isNaN(v) ? empty : divergingColour(v, grid.maxAbs, palette);
        }}
        rowLabels={rowLabels}
        colLabels={props.colLabels}
        mutedLabels={props.muted}
        mono={props.mono ?? false}
        square={false}
        margins={MARGINS}
        palette={palette}
        drawKey={grid}
        highlightCell={props.highlight}
        svgOverlay={() => `<title>${escapeXml(`${props.label}, ${grid.caption}`)}</title>`}
        ariaLabel={`${props.label}, ${grid.caption}. Arrow keys move, Enter selects.`}
        describe={props.describe}
        tooltip={(c) => <div>{props.describe(c)}</div>}
        onSelect={props.onSelect}
        onDrawn={props.onDrawn}
      />
    </>
  );
}

/** The prompts the form starts from: the last map's, else the exact sweep's, else the analysis's. */
function initialPrompts(maps: { map: AttributionMap | null; pathPatch: PathPatchMap | null }, state: ReturnType<typeof useLab>['state']) {
  const from = maps.map ?? maps.pathPatch ?? state.patch;
  if (from) return { clean: promptText(from.cleanTokens), corrupt: promptText(from.corruptTokens), target: from.target, contrast: from.contrast ?? '' };
  const r = state.result;
  return { clean: r?.prompt ?? state.prompt, corrupt: '', target: r?.trace.target ?? '', contrast: r?.trace.contrast ?? '' };
}

export function AttributionView() {
  const { state, palette, actions } = useLab();
  const { map, pathPatch, busy, errors: runErrors } = state.attribution;
  const start = initialPrompts(state.attribution, state);
  const [clean, setClean] = useState(start.clean);
  const [corrupt, setCorrupt] = useState(start.corrupt);
  const [target, setTarget] = useState(start.target);
  const [contrast, setContrast] = useState(start.contrast);
  const [method, setMethod] = useState<LabAttributionMethod>(map?.method ?? 'atp');
  const [steps, setSteps] = useState(map?.steps ?? 5);
  const [receivers, setReceivers] = useState(pathPatch?.receivers ?? 'logits');
  const [component, setComponent] = useState<PositionComponent>('resid_pre');
  const [errors, setErrors] = useState<{ form: string | null; sweep: string | null }>({ form: null, sweep: null });
  const [drawn, setDrawn] = useState(false);
  const pathHandle = useRef<CanvasHeatmapHandle | null>(null);
  const headHandle = useRef<CanvasHeatmapHandle | null>(null);
  const positionHandle = useRef<CanvasHeatmapHandle | null>(null);

  // Maps run from elsewhere (another panel) show what they ran, so they can be rerun or varied.
  useEffect(() => {
    const from = map ?? pathPatch;
    if (!from) return;
    setClean(promptText(from.cleanTokens));
    setCorrupt(promptText(from.corruptTokens));
    setTarget(from.target);
    setContrast(from.contrast ?? '');
  }, [map, pathPatch]);
  useEffect(() => {
    if (map) setMethod(map.method);
  }, [map]);

  const pathGrid = useMemo(() => (pathPatch ? pathPatchGrid(pathPatch) : null), [pathPatch]);
  const headGrid = useMemo(() => (map ? attributionHeadGrid(map) : null), [map]);
  const positionGrid = useMemo(() => (map ? attributionPositionGrid(map, component) : null), [map, component]);
  const scatter = useMemo(() => (map ? attributionScatter(map, state.patch) : null), [map, state.patch]);
  const headLabels = useMemo(() => Array.from({ length: map?.nHeads ?? pathPatch?.nHeads ?? 0 }, (_, h) => `H${h}`), [map?.nHeads, pathPatch?.nHeads]);
  const positionLabels = useMemo(() => (map ? map.cleanTokens.map((t) => tokenDisplay(t)) : []), [map]);
  const muted = useMemo(() => (map ? bosPositions(map.cleanTokens) : new Set<number>()), [map]);
  const sel = state.selection;
  const headHighlight = sel.layer !== undefined && sel.head !== undefined ? { row: sel.layer, col: sel.head } : undefined;
  const onDrawn = () => {
    if (!drawn) setDrawn(true);
  };
  const selectHead = (c: Cell) => actions.select({ ...sel, layer: c.row, head: c.col });

  const prompts = (): AttributionPrompts | null => {
    if (!clean.trim() || !corrupt.trim() || !target) {
      setErrors((e) => ({ ...e, form: 'Give a clean prompt, a corrupt prompt and a target token.' }));
      return null;
    }
    setErrors((e) => ({ ...e, form: null }));
    return { clean, corrupt, target: { text: target }, ...(contrast ? { contrast: { text: contrast } } : {}) };
  };
  const runAttribution = async () => {
    const p = prompts();
    if (!p) return;
    // A failure arrives as state.attribution.errors (every panel shows it) and as the Lab's notice.
    await actions.runAttribution({ ...p, method, ...(method === 'eap-ig' ? { steps } : {}) }).catch(() => undefined);
  };
  const runPathPatch = async () => {
    const p = prompts();
    if (!p) return;
    await actions.runPathPatch({ ...p, receivers: receivers.trim() || 'logits' }).catch(() => undefined);
  };
  const runExactSweep = async () => {
    if (!map) return;
    setErrors((e) => ({ ...e, sweep: null }));
    try {
      await actions.runPatch(exactSweepRequest(map));
    } catch (error) {
      setErrors((e) => ({ ...e, sweep: errorText(error) }));
    }
  };

  const busyIcon = (on: boolean, icon: string) => <span class={`codicon ${on ? 'codicon-loading codicon-modifier-spin' : icon}`} aria-hidden="true" />;
  const subtitle = [map ? attributionSubtitle(map) : '', pathPatch ? `path patching: ${pathPatchSubtitle(pathPatch)}` : ''].filter(Boolean).join(' · ');
  // The whole view as one picture: each heatmap drawn, then the scatter.
  const picture = () => {
    const parts: { title: string; svg: string }[] = [];
    if (pathGrid && pathHandle.current) parts.push({ title: `Path patching, normalized effect: ${pathGrid.caption}`, svg: pathHandle.current.svg() });
    if (map && headGrid && headHandle.current)
      parts.push({ title: `${METHOD_LABELS[map.method]} attribution: ${headGrid.caption}`, svg: headHandle.current.svg() });
    if (map && positionGrid && positionHandle.current)
      parts.push({ title: `${METHOD_LABELS[map.method]} attribution: ${positionGrid.caption}`, svg: positionHandle.current.svg() });
    if (map && scatter?.ok) parts.push({ title: 'AtP vs exact activation patching', svg: scatterSvg(scatter.points, scatter.r, map.method, palette) });
    return stackedSvg(subtitle, parts, palette);
  };

  return (
    <ViewFrame
      view="attribution"
      drawn={drawn && (map !== null || pathPatch !== null)}
      subtitle={subtitle}
      exporter={{
        png: async () => {
          const image = picture();
          return svgPng(image.svg, image.width, image.height);
        },
        svg: () => picture().svg,
      }}
    >
      <div class="attribution-layout">
        <form class="patch-form" aria-label="Run attribution or path patching" onSubmit={(e) => e.preventDefault()}>
          <PromptPairFields
            values={{ clean, corrupt, target, contrast }}
            onChange={(field, value) => ({ clean: setClean, corrupt: setCorrupt, target: setTarget, contrast: setContrast })[field](value)}
          />
          <label class="field">
            <span>Attribution method</span>
            <select value={method} aria-label="Attribution method" onChange={(e) => setMethod((e.target as HTMLSelectElement).value as LabAttributionMethod)}>
              {METHODS.map((m) => (
                <option value={m}>{METHOD_LABELS[m]}</option>
              ))}
            </select>
          </label>
          {method === 'eap-ig' && (
            <label class="field">
              <span>EAP-IG steps</span>
              <input
                type="number"
                min={1}
                max={100}
                value={steps}
                onInput={(e) => setSteps(Math.max(1, Math.min(100, Math.round(Number((e.target as HTMLInputElement).value)) || 1)))}
              />
            </label>
          )}
          <button type="button" class="primary" disabled={busy.attribution} onClick={() => void runAttribution()}>
            {busyIcon(busy.attribution, 'codicon-play')} {busy.attribution ? 'Attributing…' : `Run ${METHOD_LABELS[method]}`}
          </button>
          <label class="field">
            <span>Path-patching receivers</span>
            <input type="text" value={receivers} placeholder="logits or L1H0:k,L1H1:q" onInput={(e) => setReceivers((e.target as HTMLInputElement).value)} />
          </label>
          <button type="button" class="primary" disabled={busy.pathPatch} onClick={() => void runPathPatch()}>
            {busyIcon(busy.pathPatch, 'codicon-play')} {busy.pathPatch ? 'Path patching…' : 'Run path patching'}
          </button>
          {errors.form && (
            <div class="form-error" role="alert">
              {errors.form}
            </div>
          )}
        </form>
        <div class="attribution-results">
          <div class="attribution-panel" data-map="path-patching">
            <div class="attribution-caption">
              Path patching (noising: each sender's corrupted output reaches the receivers along direct paths; −1 = the path carries the whole difference)
              {pathPatch ? ` · ${pathPatchSubtitle(pathPatch)}` : ''}
            </div>
            {runErrors.pathPatch ? (
              <div class="attribution-error" role="alert">
                <span class="codicon codicon-error" aria-hidden="true" /> {runErrors.pathPatch}
              </div>
            ) : pathPatch && pathGrid ? (
              <MapHeatmap
                grid={pathGrid}
                label="Path patching, normalized effect"
                colLabels={headLabels}
                highlight={headHighlight}
                describe={(c) => describePathCell(pathPatch, c.row, c.col)}
                onSelect={selectHead}
                handle={pathHandle}
                onDrawn={onDrawn}
              />
            ) : (
              <div class="placeholder">{busy.pathPatch ? 'Path patching…' : 'No path patching yet: choose the receivers and run it.'}</div>
            )}
          </div>
          <div class="attribution-panel" data-map="attribution-heads">
            <div class="attribution-caption">
              Attribution per head (denoising, as the exact sweeps: ≈ the metric's change when the head's clean output is patched into the corrupted run)
              {map ? ` · ${attributionSubtitle(map)}` : ''}
            </div>
            {runErrors.attribution ? (
              <div class="attribution-error" role="alert">
                <span class="codicon codicon-error" aria-hidden="true" /> {runErrors.attribution}
              </div>
            ) : map && headGrid ? (
              <MapHeatmap
                grid={headGrid}
                label={`${METHOD_LABELS[map.method]} attribution`}
                colLabels={headLabels}
                highlight={headHighlight}
                describe={(c) => describeHeadScore(map, c.row, c.col)}
                onSelect={selectHead}
                handle={headHandle}
                onDrawn={onDrawn}
              />
            ) : (
              <div class="placeholder">{busy.attribution ? 'Attributing…' : 'No attribution yet: pick a method and run it.'}</div>
            )}
          </div>
          <div class="attribution-panel" data-map="attribution-positions">
            <div class="attribution-controls">
              <span class="attribution-caption">Attribution per layer and position</span>
              <select
                value={component}
                aria-label="Component scored per layer and position"
                disabled={!map?.positions}
                onChange={(e) => setComponent((e.target as HTMLSelectElement).value as PositionComponent)}
              >
                {POSITION_COMPONENTS.map((c) => (
                  <option value={c}>{COMPONENT_LABELS[c]}</option>
                ))}
              </select>
            </div>
            {map && positionGrid ? (
              <MapHeatmap
                grid={positionGrid}
                label={`${METHOD_LABELS[map.method]} attribution`}
                colLabels={positionLabels}
                muted={muted}
                mono
                highlight={sel.layer !== undefined && sel.position !== undefined ? { row: sel.layer, col: sel.position } : undefined}
                describe={(c) => describePositionScore(map, component, c.row, c.col)}
                onSelect={(c) => actions.select({ ...sel, layer: c.row, position: c.col })}
                handle={positionHandle}
                onDrawn={onDrawn}
              />
            ) : (
              <div class="placeholder">
                {map ? 'EAP-IG scores edges summed over positions: it has no layer × position map. Pick AtP or AtP* for one.' : 'No attribution yet.'}
              </div>
            )}
          </div>
          <div class="attribution-panel" data-map="scatter">
            {map && scatter?.ok ? (
              <ScatterChart
                points={scatter.points}
                r={scatter.r}
                method={map.method}
                palette={palette}
                onSelect={(p) => actions.select({ ...sel, layer: p.layer, head: p.head })}
                onDrawn={onDrawn}
              />
            ) : (
              <div class="placeholder">
                <p>
                  {map ? `${scatter && !scatter.ok ? scatter.reason : ''} ` : 'Run an attribution first. '}
                  The scatter compares each head's attribution score with its exact activation-patching effect (hook_z at every position, clean into the
                  corrupted run).
                </p>
                {map && (
                  <button type="button" class="primary" disabled={state.patchBusy} onClick={() => void runExactSweep()}>
                    {busyIcon(state.patchBusy, 'codicon-play')} Run the exact sweep on these prompts
                  </button>
                )}
                {errors.sweep && (
                  <div class="attribution-error" role="alert">
                    {errors.sweep}
                  </div>
                )}
              </div>
            )}
          </div>
        </div>
      </div>
    </ViewFrame>
  );
}
