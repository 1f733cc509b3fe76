/**
 * The Lab's state and its reducer: everything the views draw from, changed only by messages from
 * the host and by the user's own actions. Pure (the arrival time comes in with the action), so
 * that streaming, restore and selection sync are tested in Node.
 */
import type { AnalysisResult, CircuitTrace, PatchSweepResult } from '../../../protocol/analysis.js';
import type { CircuitReport, EdgeCheck } from '../../../protocol/circuit.js';
import { withMeasuredSize } from '../../../protocol/circuit-sizes.js';
import type { HostToWebview, LabPanelContent, LabPersistedState, LabSelection, TraceMetric } from '../../../protocol/webview-messages.js';
import { clampSelection, defaultSelection } from './selection.js';
import { INITIAL_ATTRIBUTION_STATE, reduceAttribution, type AttributionViewState } from '../views/attribution/attribution-state.js';
import { INITIAL_FEATURES_STATE, reduceFeatures, type FeaturesViewState } from '../views/features/features-state.js';

export type LabPhase = 'empty' | 'streaming' | 'ready';

export interface LabState {
  content: LabPanelContent;
  phase: LabPhase;
  prompt: string;
  nLayers: number;
  nHeads: number;
  /** Streamed attention per layer, [head, query, key]; null until that layer arrives. */
  streamed: (Float32Array | null)[];
  /** Prompt length: from the result, or while streaming from the first pattern's size. */
  nTokens: number;
  result: AnalysisResult | null;
  historyId: string | null;
  /** Circuit traces of the current result by metric (the result's own, plus any fetched for the switch). */
  traces: Partial<Record<TraceMetric, CircuitTrace>>;
  traceMetric: TraceMetric;
  /** A trace under `traceMetric` has been asked for and has not arrived. */
  tracePending: boolean;
  patch: PatchSweepResult | null;
  patchBusy: boolean;
  selection: LabSelection;
  /** performance.now() when the current result arrived (for data-render-ms). */
  resultArrivedAt: number | null;
  /** A message for the user (failed request, missing history entry); null when none. */
  notice: string | null;
  /** The last discovered circuit (the circuit view; its head → head edges in the grid and trace when it is of this prompt). */
  circuit: CircuitReport | null;
  /** The last path-patching check of one of the circuit's edges (cleared with a new circuit). */
  edgeCheck: EdgeCheck | null;
  /** The attribution view's maps (attribution, path patching) and running state. */
  attribution: AttributionViewState;
  /** The Features view's result, steering run and running state. */
  features: FeaturesViewState;
}

export type LabAction =
  | { type: 'host'; message: HostToWebview; now: number }
  /** The user selected something in this panel. */
  | { type: 'select'; selection: LabSelection }
  | { type: 'setTraceMetric'; metric: TraceMetric; pending: boolean }
  | { type: 'notice'; text: string | null }
  | { type: 'patchBusy'; busy: boolean };

export function initialLabState(content: LabPanelContent, restored: LabPersistedState | null): LabState {
  return {
    content,
    phase: 'empty',
    prompt: '',
    nLayers: 0,
    nHeads: 0,
    streamed: [],
    nTokens: 0,
    result: null,
    historyId: restored?.historyId ?? null,
    traces: {},
    traceMetric: 'logit',
    tracePending: false,
    patch: null,
    patchBusy: false,
    selection: restored?.selection ?? {},
    resultArrivedAt: null,
    notice: null,
    circuit: null,
    edgeCheck: null,
    attribution: INITIAL_ATTRIBUTION_STATE,
    features: INITIAL_FEATURES_STATE,
  };
}

/** What the webview persists (identifiers only; the host refetches the data by history id). */
export function persistedState(state: LabState): LabPersistedState {
  return { version: 1, content: state.content, historyId: state.historyId, selection: state.selection };
}

function dims(state: LabState) {
  return { nLayers: state.nLayers, nHeads: state.nHeads, nTokens: state.nTokens };
}

function onHostMessage(state: LabState, message: HostToWebview, now: number): LabState {
  switch (message.type) {
    case 'analysisStarted':
      return {
        ...state,
        phase: 'streaming',
        prompt: message.prompt,
        nLayers: message.nLayers,
        nHeads: message.nHeads,
        streamed: new Array<Float32Array | null>(message.nLayers).fill(null),
        nTokens: 0,
        result: null,
        traces: {},
        tracePending: false,
        resultArrivedAt: null,
        notice: null,
      };
    case 'layer': {
      const u = message.update;
      if (state.phase !== 'streaming' || u.layer < 0 || u.layer >= state.nLayers || state.nHeads === 0) return state;
      const streamed = state.streamed.slice();
      streamed[u.layer] = u.pattern;
      const nTokens = Math.round(Math.sqrt(u.pattern.length / state.nHeads));
      return { ...state, streamed, nTokens };
    }
    case 'analysis': {
      const r = message.result;
      const next: LabState = {
        ...state,
        phase: 'ready',
        prompt: r.prompt,
        nLayers: r.model.nLayers,
        nHeads: r.model.nHeads,
        nTokens: r.tokens.length,
        streamed: [],
        result: r,
        historyId: message.historyId,
        traces: { [r.trace.metric]: r.trace },
        traceMetric: r.trace.metric,
        tracePending: false,
        resultArrivedAt: now,
        notice: null,
      };
      // Keep a restored or earlier selection when it still fits; otherwise start at the strongest head.
      const kept = clampSelection(state.selection, dims(next));
      next.selection = kept.head !== undefined ? kept : { ...defaultSelection(r), ...(kept.position !== undefined ? { position: kept.position } : {}) };
      return next;
    }
    case 'analysisMissing':
      if (state.result) return state;
      return { ...state, historyId: null, notice: 'The analysis this panel showed is no longer in the history. Run Analyze again.' };
    case 'trace': {
      if (message.historyId !== state.historyId) return state;
      const traces = { ...state.traces, [message.trace.metric]: message.trace };
      return { ...state, traces, tracePending: state.tracePending && traces[state.traceMetric] === undefined };
    }
    case 'patch':
      return { ...state, patch: message.result };
    case 'patchBusy':
      return { ...state, patchBusy: message.busy };
    case 'circuit':
      return { ...state, circuit: message.report, edgeCheck: null };
    case 'edgeCheck':
      return { ...state, edgeCheck: message.check };
    case 'circuitSize':
      return state.circuit ? { ...state, circuit: withMeasuredSize(state.circuit, message.point) } : state;
    case 'select':
      return { ...state, selection: state.nLayers > 0 ? clampSelection(message.selection, dims(state)) : message.selection };
    case 'attributionMap':
    case 'pathPatchMap':
    case 'attributionBusy':
      return { ...state, attribution: reduceAttribution(state.attribution, message) };
    case 'features':
    case 'steered':
    case 'featureBusy':
    case 'attributionGraph':
      return { ...state, features: reduceFeatures(state.features, message) };
    case 'reply':
      return message.ok ? state : { ...state, notice: message.error ?? 'The request failed.', tracePending: false };
  }
}

export function labReducer(state: LabState, action: LabAction): LabState {
  switch (action.type) {
    case 'host':
      return onHostMessage(state, action.message, action.now);
    case 'select':
      return { ...state, selection: clampSelection(action.selection, dims(state)) };
    case 'setTraceMetric':
      return { ...state, traceMetric: action.metric, tracePending: action.pending && state.traces[action.metric] === undefined };
    case 'notice':
      return { ...state, notice: action.text };
    case 'patchBusy':
      return { ...state, patchBusy: action.busy };
  }
}

/** The trace the views show: the one under the chosen metric, else the result's own. */
export function activeTrace(state: LabState): CircuitTrace | null {
  return state.traces[state.traceMetric] ?? state.result?.trace ?? null;
}
