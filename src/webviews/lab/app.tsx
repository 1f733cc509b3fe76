/**
 * The Lab: the state (reducer fed by host messages and user actions), the theme palette, the
 * actions that reach the host, the layout of the views (all of them, or one on its own), state
 * persistence for reloads, and the render timing hook (data-render-ms on the root).
 */
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { LabPanelContent, LabSelection, LabViewId } from '../../protocol/webview-messages.js';
import { LabContext, type LabActions } from './components/lab-context.js';
import type { Palette } from './shared/colour.js';
import { readPalette, watchTheme } from './shared/theme.js';
import { positionConvention } from './shared/token-display.js';
import type { LabBridge } from './state/bridge.js';
import { initialLabState, labReducer, persistedState, type LabState } from './state/lab-state.js';
import { clampSelection } from './state/selection.js';
import { Grid3dView } from './views/grid3d/grid3d-view.js';
import { AttentionView } from './views/heatmap/attention-view.js';
import { TraceView } from './views/trace/trace-view.js';
import { LensView } from './views/lens/lens-view.js';
import { FlowView } from './views/flow/flow-view.js';
import { PredictionsView } from './views/predictions/predictions-view.js';
import { PatchingView } from './views/patching/patching-view.js';
import { CircuitView } from './views/circuit/circuit-view.js';
import { AttributionView } from './views/attribution/attribution-view.js';
import { FeaturesView } from './views/features/features-view.js';
import { AttributionGraphView } from './views/attribution-graph/attribution-graph-view.js';

/** The views that draw an analysis result (data-render-ms waits for these; patching draws sweeps). */
const ANALYSIS_VIEWS: readonly LabViewId[] = ['grid3d', 'heatmap', 'trace', 'lens', 'flow', 'predictions'];

/** Reading order of the Lab's grid (see lab.css for the spans). */
const LAB_LAYOUT_ORDER: readonly LabViewId[] = [
  'grid3d',
  'heatmap',
  'predictions',
  'trace',
  'lens',
  'flow',
  'patching',
  'attribution',
  'circuit',
  'features',
  'attributionGraph',
];

const VIEW_COMPONENTS: Record<LabViewId, () => preact.JSX.Element> = {
  grid3d: Grid3dView,
  heatmap: AttentionView,
  trace: TraceView,
  lens: LensView,
  flow: FlowView,
  predictions: PredictionsView,
  patching: PatchingView,
  circuit: CircuitView,
  attribution: AttributionView,
  features: FeaturesView,
  attributionGraph: AttributionGraphView,
};

function StatusLine({ state }: { state: LabState }) {
  if (state.phase === 'streaming') {
    const done = state.streamed.filter((s) => s !== null).length;
    return (
      <span class="status" role="status">
        <span class="codicon codicon-loading codicon-modifier-spin" aria-hidden="true" /> Analyzing… layer {done} of {state.nLayers}
      </span>
    );
  }
  if (state.result) {
    const r = state.result;
    const convention = positionConvention(r);
    return (
      <span class="status">
        {r.model.displayName} · {r.device} · {r.tokens.length} tokens ·{' '}
        <span class="position-convention" title={convention.title}>
          {convention.text}
        </span>{' '}
        · {Math.round(r.elapsedMs)} ms
      </span>
    );
  }
  return <span class="status">No analysis yet</span>;
}

export function LabApp(props: { bridge: LabBridge; content: LabPanelContent; root: HTMLElement }) {
  const { bridge, content, root } = props;
  const [state, dispatch] = useReducer(labReducer, undefined, () => {
    const restored = bridge.restoredState();
    return initialLabState(content, restored);
  });
  const [palette, setPalette] = useState<Palette>(() => readPalette());
  const stateRef = useRef(state);
  stateRef.current = state;
  const drawnViews = useRef(new Set<LabViewId>());
  const timedFor = useRef<number | null>(null);

  useEffect(() => watchTheme(setPalette), []);
  useEffect(() => {
    bridge.start((message) => {
      // User Timing marks bracket the render for profilers (data-render-ms is the same span).
      if (message.type === 'analysis') performance.mark('lab:analysis-arrived');
      dispatch({ type: 'host', message, now: performance.now() });
    });
    return () => bridge.dispose();
  }, []);
  useEffect(() => bridge.saveState(persistedState(state)), [state.historyId, state.selection, state.content]);
  useEffect(() => {
    root.dataset.phase = state.phase;
  }, [state.phase]);

  const expected = content === 'lab' ? ANALYSIS_VIEWS : ANALYSIS_VIEWS.filter((v) => v === content);

  const actions = useMemo<LabActions>(
    () => ({
      select(selection: LabSelection) {
        const s = stateRef.current;
        const clamped = clampSelection(selection, { nLayers: s.nLayers, nHeads: s.nHeads, nTokens: s.nTokens });
        dispatch({ type: 'select', selection: clamped });
        bridge.post({ type: 'selectionChanged', selection: clamped });
      },
      openView(view) {
        bridge.post({ type: 'openView', view });
      },
      setTraceMetric(metric) {
        const s = stateRef.current;
        if (s.traceMetric === metric) return;
        const held = s.traces[metric] !== undefined;
        const previous = s.traceMetric;
        dispatch({ type: 'setTraceMetric', metric, pending: !held });
        if (held || s.historyId === null) return;
        bridge.request({ type: 'requestTrace', historyId: s.historyId, metric }).catch((error: unknown) => {
          dispatch({ type: 'setTraceMetric', metric: previous, pending: false });
          dispatch({ type: 'notice', text: error instanceof Error ? error.message : String(error) });
        });
      },
      runPatch(request) {
        return bridge.request({ type: 'runPatch', request });
      },
      checkEdge(from, to) {
        return bridge.request({ type: 'checkEdge', from, to });
      },
      measureCircuitSize(edges) {
        return bridge.request({ type: 'measureCircuitSize', edges });
      },
      runAttribution(request) {
        return bridge.request({ type: 'runAttribution', request });
      },
      runPathPatch(request) {
        return bridge.request({ type: 'runPathPatch', request });
      },
      steerFeatures(edits, position) {
        return bridge.request(position === undefined ? { type: 'steerFeatures', edits } : { type: 'steerFeatures', edits, position });
      },
      rebuildGraph(nodeThreshold, edgeThreshold) {
        return bridge.request({ type: 'rebuildGraph', nodeThreshold, edgeThreshold });
      },
      exportGraph(pins) {
        return bridge.request({ type: 'exportGraph', ...pins });
      },
      exportView(view, format, data) {
        return bridge.request(data === undefined ? { type: 'export', view, format } : { type: 'export', view, format, data });
      },
      reportDrawn(view) {
        const arrived = stateRef.current.resultArrivedAt;
        if (arrived === null) return;
        if (timedFor.current !== arrived) {
          timedFor.current = arrived;
          drawnViews.current.clear();
          delete root.dataset.renderMs;
          root.dataset.renderDetail = '';
        }
        if (drawnViews.current.has(view)) return;
        drawnViews.current.add(view);
        // Per view, ms since arrival (which view the time goes to, for the benchmark).
        root.dataset.renderDetail = `${root.dataset.renderDetail ?? ''}${view}:${(performance.now() - arrived).toFixed(1)} `;
        if (expected.every((v) => drawnViews.current.has(v))) {
          root.dataset.renderMs = (performance.now() - arrived).toFixed(1);
          performance.mark('lab:views-drawn');
        }
      },
      log(level, message) {
        bridge.post({ type: 'log', level, message });
      },
    }),
    [bridge, root, content],
  );

  const views = content === 'lab' ? LAB_LAYOUT_ORDER : [content];
  return (
    <LabContext.Provider value={{ state, palette, actions }}>
      <div class={`lab lab-${content === 'lab' ? 'all' : 'single'}`}>
        <header class="lab-header">
          <span class="lab-prompt token" title={state.prompt}>
            {state.prompt || 'Circuit Trace Lab'}
          </span>
          <StatusLine state={state} />
          {content === 'lab' && (
            <button
              type="button"
              class="icon-button"
              aria-label="Export the Lab's data as JSON"
              title="Export JSON"
              disabled={!state.result}
              onClick={() =>
                actions.exportView('lab', 'json').catch((e: unknown) => dispatch({ type: 'notice', text: e instanceof Error ? e.message : String(e) }))
              }
            >
              <span class="codicon codicon-json" aria-hidden="true" />
            </button>
          )}
        </header>
        {state.notice && (
          <div class="notice" role="alert">
            <span class="codicon codicon-warning" aria-hidden="true" /> {state.notice}
            <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => dispatch({ type: 'notice', text: null })}>
              <span class="codicon codicon-close" aria-hidden="true" />
            </button>
          </div>
        )}
        <main class="lab-views">
          {views.map((v) => {
            const View = VIEW_COMPONENTS[v];
            return <View key={v} />;
          })}
        </main>
      </div>
    </LabContext.Provider>
  );
}
