/**
 * The Lab webview's message protocol (in the style of microsoft/vscode-hexeditor): one
 * discriminated union per direction, one interface per message. Requests that need an answer
 * carry a `requestId`; the host answers each with exactly one `reply` carrying the same id.
 *
 * Handshake: the webview sends `ready` once its message listener is installed; the host queues
 * everything it wants to send until then (a webview drops messages posted before its script ran).
 *
 * Large arrays travel as typed arrays (VS Code's postMessage transfers them as binary since 1.57),
 * never as JSON number arrays. Everything the webview sends is untrusted: the host validates each
 * message (src/extension/panels/webview-message-validator.ts) before acting on it.
 */
import type { AnalysisLayerUpdate, AnalysisResult, CircuitTrace, PatchSweepResult } from './analysis.js';
import type { PatchRequest } from './engine.js';
import type { CircuitReport, EdgeCheck } from './circuit.js';
import type { CircuitSizeMessage, MeasureCircuitSizeMessage } from './circuit-messages.js';
import type { AttributionHostMessage, RunAttributionMessage, RunPathPatchMessage } from './attribution-messages.js';
import type { ExportGraphMessage, FeatureHostMessage, RebuildGraphMessage, SteerFeaturesMessage } from './feature-messages.js';

/** The Lab's views; each can be laid out in the Lab or opened on its own. */
export const LAB_VIEWS = [
  'grid3d',
  'heatmap',
  'trace',
  'lens',
  'flow',
  'predictions',
  'patching',
  'circuit',
  'attribution',
  'features',
  'attributionGraph',
] as const;
export type LabViewId = (typeof LAB_VIEWS)[number];
/** What one panel shows: the whole Lab, or one view. */
export type LabPanelContent = 'lab' | LabViewId;

export function isLabViewId(value: unknown): value is LabViewId {
  return typeof value === 'string' && (LAB_VIEWS as readonly string[]).includes(value);
}

/** The one selection every view follows. Absent fields mean "nothing selected" on that axis. */
export interface LabSelection {
  layer?: number;
  head?: number;
  position?: number;
}

export type TraceMetric = CircuitTrace['metric'];
export type ExportFormat = 'png' | 'svg' | 'json';

/**
 * What a webview persists with setState and what the WebviewPanelSerializer hands back after a
 * reload: identifiers only (the data itself is refetched from the host by history id).
 */
export interface LabPersistedState {
  version: 1;
  content: LabPanelContent;
  historyId: string | null;
  selection: LabSelection;
}

// ---------------------------------------------------------------- host → webview

/** An analysis has started: reserve room for `nLayers × nHeads` heads and show the prompt. */
export interface AnalysisStartedMessage {
  type: 'analysisStarted';
  prompt: string;
  nLayers: number;
  nHeads: number;
}

/** One layer of the running analysis has finished (its attention patterns). */
export interface LayerMessage {
  type: 'layer';
  update: AnalysisLayerUpdate;
}

/** A finished analysis to show; `historyId` identifies it for restore after a reload. */
export interface AnalysisMessage {
  type: 'analysis';
  result: AnalysisResult;
  historyId: string;
}

/** The analysis a restored panel asked for is no longer in the history. */
export interface AnalysisMissingMessage {
  type: 'analysisMissing';
  historyId: string;
}

/** A circuit trace of the current analysis under another metric (answer data for `requestTrace`). */
export interface TraceMessage {
  type: 'trace';
  historyId: string;
  trace: CircuitTrace;
}

/** An activation-patching sweep to show. */
export interface PatchMessage {
  type: 'patch';
  result: PatchSweepResult;
}

/** A patch sweep is running (true) or finished (false); the form shows progress meanwhile. */
export interface PatchBusyMessage {
  type: 'patchBusy';
  busy: boolean;
}

/** A discovered circuit to show (the circuit view; its head → head edges in the model grid and the trace). */
export interface CircuitMessage {
  type: 'circuit';
  report: CircuitReport;
}

/** The path-patching check of a circuit edge (answer data for `checkEdge`). */
export interface EdgeCheckMessage {
  type: 'edgeCheck';
  check: EdgeCheck;
}

/** Select this head / layer / position in every view (from the host or another panel). */
export interface SelectMessage {
  type: 'select';
  selection: LabSelection;
}

/** Completion of a request: `ok` true, or false with a message to show. */
export interface ReplyMessage {
  type: 'reply';
  requestId: number;
  ok: boolean;
  error?: string;
}

export type HostToWebview =
  | AnalysisStartedMessage
  | LayerMessage
  | AnalysisMessage
  | AnalysisMissingMessage
  | TraceMessage
  | PatchMessage
  | PatchBusyMessage
  | CircuitMessage
  | EdgeCheckMessage
  | CircuitSizeMessage
  | SelectMessage
  | ReplyMessage
  | AttributionHostMessage
  | FeatureHostMessage;

// ---------------------------------------------------------------- webview → host

/** The webview's listener is installed; `restore` is its persisted state after a reload (if any). */
export interface ReadyMessage {
  type: 'ready';
  restore: LabPersistedState | null;
}

/** The user selected something in this panel; the host relays it to the other panels and the extension. */
export interface SelectionChangedMessage {
  type: 'selectionChanged';
  selection: LabSelection;
}

/** Open one view on its own beside the editor. */
export interface OpenViewMessage {
  type: 'openView';
  view: LabViewId;
}

/** Run an activation-patching sweep; the result comes as a `patch` message, then a `reply`. */
export interface RunPatchMessage {
  type: 'runPatch';
  requestId: number;
  request: PatchRequest;
}

/** Re-run the circuit trace of analysis `historyId` with the other metric; answered by `trace`, then `reply`. */
export interface RequestTraceMessage {
  type: 'requestTrace';
  requestId: number;
  historyId: string;
  metric: TraceMetric;
}

/** Check an edge of the shown circuit by path patching (out of a head, into the logits or a head's input); answered by `edgeCheck`, then `reply`. */
export interface CheckEdgeMessage {
  type: 'checkEdge';
  requestId: number;
  from: string;
  to: string;
}

/**
 * Save a view as a file: PNG bytes or SVG text drawn by the webview, or (format 'json') the Lab's
 * data serialised by the host. The host shows a save dialog and writes the file.
 */
export interface ExportMessage {
  type: 'export';
  requestId: number;
  /** Which view (or 'lab' for the JSON of the whole Lab); names the suggested file. */
  view: LabPanelContent;
  format: ExportFormat;
  /** PNG: the image bytes; SVG: the document text; JSON: absent. */
  data?: Uint8Array | string;
}

/** A message for the host's log (uncaught webview errors, WebGL fallback notices). */
export interface LogMessage {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

export type WebviewToHost =
  | ReadyMessage
  | SelectionChangedMessage
  | OpenViewMessage
  | RunPatchMessage
  | RequestTraceMessage
  | CheckEdgeMessage
  | MeasureCircuitSizeMessage
  | ExportMessage
  | LogMessage
  | RunAttributionMessage
  | RunPathPatchMessage
  | SteerFeaturesMessage
  | RebuildGraphMessage
  | ExportGraphMessage;

/** The webview root's DOM attributes the host's HTML sets (read by the webview at start-up). */
export const LAB_ROOT_ID = 'lab-root';
export const LAB_CONTENT_ATTRIBUTE = 'data-lab-content';
