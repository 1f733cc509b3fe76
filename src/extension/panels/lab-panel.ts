/**
 * The Lab panels: one webview panel with every view laid out ("the Lab"), plus any number of
 * panels that each show one view beside the editor. All panels show the same analysis and
 * follow one selection: a selection made in one panel is relayed to the others and to the
 * extension (`LabHost.onSelection`).
 *
 * Delivery: the controller keeps the current state (streaming layers or the finished analysis,
 * the traces under each metric, the patch sweep, the selection) and sends a full snapshot to a
 * panel whenever it says `ready` (first load, reload, and re-creation after being hidden, since
 * the panels do not retain their context when hidden). Replies to requests wait in a per-panel
 * queue until the panel is ready.
 *
 * Reloads: a WebviewPanelSerializer for `circuitTrace.lab` restores panels; the webview persists
 * identifiers only (history id, selection, which view) and the data is refetched from the host.
 */
import * as vscode from 'vscode';
import type { AnalysisLayerUpdate, AnalysisResult, CircuitTrace, PatchSweepResult } from '../../protocol/analysis.js';
import type { PatchRequest } from '../../protocol/engine.js';
import type { CircuitReport, EdgeCheck, EdgeCheckRequest } from '../../protocol/circuit.js';
import {
  isLabViewId,
  type ExportMessage,
  type HostToWebview,
  type LabPanelContent,
  type LabSelection,
  type TraceMetric,
  type WebviewToHost,
} from '../../protocol/webview-messages.js';
import { createNonce, labHtml } from './lab-html.js';
import { saveLabExport } from './lab-export.js';
import { validatePersistedState, validateSelection, validateWebviewMessage } from './webview-message-validator.js';
import { LabAttributionRuns, type AttributionHost } from './lab-attribution.js';
import { LabFeatureRuns, type FeatureLabHost } from '../features/lab-features.js';
import { LabCircuitSizes, type CircuitSizesHost } from './lab-circuit-sizes.js';
import { withMeasuredSize } from '../../protocol/circuit-sizes.js';

export const LAB_VIEW_TYPE = 'circuitTrace.lab';

export type LabSelectionInput = { layer?: number; head?: number; position?: number };

/** What the Lab needs from the rest of the extension (with the attribution view's optional runs). */
export interface LabHost extends AttributionHost, FeatureLabHost, CircuitSizesHost {
  /** An analysis from the history, to restore a panel after a reload; undefined when it is gone. */
  getAnalysis(historyId: string): Promise<AnalysisResult | undefined>;
  /** Runs an activation-patching sweep asked for from the Lab's patch form. */
  runPatch(request: PatchRequest): Promise<PatchSweepResult>;
  /** The user selected a head / layer / position in a Lab panel. */
  onSelection(selection: LabSelectionInput): void;
  log: vscode.LogOutputChannel;
  /**
   * Optional: the circuit trace of analysis `historyId` under the other metric (an analysis with
   * a contrast traces one of 'logit' / 'logit_diff'; the trace view's switch asks for the other).
   * Without it the switch only offers the metric the analysis already holds.
   */
  retrace?(historyId: string, metric: TraceMetric): Promise<CircuitTrace>;
  /** Optional: path patching of an edge of a circuit found on model `modelId`; without it the circuit view cannot check edges. */
  checkEdge?(request: EdgeCheckRequest, modelId: string): Promise<EdgeCheck>;
}

const VIEW_TITLES: Record<LabPanelContent, string> = {
  lab: 'Circuit Trace Lab',
  grid3d: 'Model Grid',
  heatmap: 'Attention Heatmap',
  trace: 'Circuit Trace',
  lens: 'Logit Lens',
  flow: 'Token Flow',
  predictions: 'Predictions',
  patching: 'Activation Patching',
  circuit: 'Circuit',
  attribution: 'Attribution and Path Patching',
  features: 'Features',
  attributionGraph: 'Attribution Graph',
};

/** One webview panel and its delivery state. */
class LabPanel implements vscode.Disposable {
  ready = false;
  private readonly pending: HostToWebview[] = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly panel: vscode.WebviewPanel,
    readonly content: LabPanelContent,
    extensionUri: vscode.Uri,
    onMessage: (from: LabPanel, raw: unknown) => void,
    onDispose: (from: LabPanel) => void,
  ) {
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media'), vscode.Uri.joinPath(extensionUri, 'dist')],
    };
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'lab.svg');
    panel.title = VIEW_TITLES[content];
    webview.html = labHtml({
      cspSource: webview.cspSource,
      nonce: createNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webviews', 'lab.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webviews', 'lab.css')).toString(),
      codiconUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'codicons', 'codicon.css')).toString(),
      content,
      title: VIEW_TITLES[content],
    });
    this.disposables.push(
      webview.onDidReceiveMessage((raw: unknown) => onMessage(this, raw)),
      // A hidden panel loses its page; it says `ready` again when shown and gets a fresh snapshot.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => onDispose(this)),
    );
  }

  /** Sends now when the webview is listening; otherwise drops data (the snapshot on `ready` covers it). */
  send(message: HostToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  /** Sends now or once the webview is ready (for replies, which no snapshot repeats). */
  sendOrQueue(message: HostToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(message);
    else this.pending.push(message);
  }

  flushQueue(): void {
    for (const message of this.pending.splice(0)) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

interface StreamingState {
  prompt: string;
  nLayers: number;
  nHeads: number;
  layers: AnalysisLayerUpdate[];
}

export class LabPanelController implements vscode.Disposable {
  private readonly panels = new Set<LabPanel>();
  private streaming: StreamingState | null = null;
  private current: { result: AnalysisResult; historyId: string; traces: Map<TraceMetric, CircuitTrace> } | null = null;
  private patchResult: PatchSweepResult | null = null;
  private patchRunning = false;
  private circuitReport: CircuitReport | null = null;
  private selection: LabSelection = {};
  private readonly registration: vscode.Disposable;
  /** The attribution view's runs and last maps. */
  readonly attribution: LabAttributionRuns;
  /** The feature views' results and steering runs. */
  readonly features: LabFeatureRuns;
  /** The circuit view's size slider: other sizes of the shown circuit, measured. */
  private readonly circuitSizes: LabCircuitSizes;

  private constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: LabHost,
  ) {
    this.attribution = new LabAttributionRuns(host, (message) => {
      if (message.type !== 'attributionBusy') this.ensureVisible();
      this.broadcast(message);
    });
    this.features = new LabFeatureRuns(host, (message) => {
      if (message.type !== 'featureBusy') this.ensureVisible();
      this.broadcast(message);
    });
    this.circuitSizes = new LabCircuitSizes(
      host,
      () => this.circuitReport,
      (point) => {
        if (!this.circuitReport) return;
        this.circuitReport = withMeasuredSize(this.circuitReport, point);
        this.broadcast({ type: 'circuitSize', point });
      },
    );
    this.registration = vscode.window.registerWebviewPanelSerializer(LAB_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        const checked = validatePersistedState(state);
        if (!checked.ok && state !== undefined && state !== null)
          host.log.warn(`Lab: restoring a panel with unusable state (${checked.error}); opening the whole Lab.`);
        this.adopt(panel, checked.ok ? checked.value.content : 'lab');
      },
    });
  }

  /** Registers the panel serializer and returns the controller (disposed with the extension). */
  static register(context: vscode.ExtensionContext, host: LabHost): LabPanelController {
    const controller = new LabPanelController(context.extensionUri, host);
    context.subscriptions.push(controller);
    return controller;
  }

  /** Opens (or reveals) the Lab, or one view on its own beside the editor (`view` = a view id). */
  open(view?: string): void {
    let content: LabPanelContent = 'lab';
    if (view !== undefined && view !== 'lab') {
      if (isLabViewId(view)) content = view;
      else this.host.log.warn(`Lab: unknown view "${view}"; opening the whole Lab.`);
    }
    this.reveal(content, false);
  }

  beginAnalysis(prompt: string, model: { nLayers: number; nHeads: number }): void {
    this.streaming = { prompt, nLayers: model.nLayers, nHeads: model.nHeads, layers: [] };
    this.current = null;
    this.ensureVisible();
    this.broadcast({ type: 'analysisStarted', prompt, nLayers: model.nLayers, nHeads: model.nHeads });
  }

  layer(update: AnalysisLayerUpdate): void {
    if (this.streaming) this.streaming.layers.push(update);
    this.broadcast({ type: 'layer', update });
  }

  showAnalysis(result: AnalysisResult, historyId: string): void {
    this.streaming = null;
    this.current = { result, historyId, traces: new Map([[result.trace.metric, result.trace]]) };
    this.ensureVisible();
    this.broadcast({ type: 'analysis', result, historyId });
  }

  showPatch(result: PatchSweepResult): void {
    this.patchResult = result;
    this.ensureVisible();
    this.broadcast({ type: 'patch', result });
  }

  showCircuit(report: CircuitReport): void {
    this.circuitReport = report;
    this.ensureVisible();
    this.broadcast({ type: 'circuit', report });
  }

  /** Selects in every panel (merged into the current selection: absent fields stay as they are). */
  select(selection: LabSelectionInput): void {
    const checked = validateSelection(selection);
    if (!checked.ok) {
      this.host.log.warn(`Lab: ignoring selection (${checked.error}).`);
      return;
    }
    this.selection = { ...this.selection, ...checked.value };
    this.broadcast({ type: 'select', selection: this.selection });
  }

  dispose(): void {
    this.registration.dispose();
    for (const panel of [...this.panels]) panel.dispose();
    this.panels.clear();
  }

  // ---------------------------------------------------------------- panels

  private reveal(content: LabPanelContent, preserveFocus: boolean): void {
    const existing = [...this.panels].find((p) => p.content === content);
    if (existing) {
      existing.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(LAB_VIEW_TYPE, VIEW_TITLES[content], { viewColumn: vscode.ViewColumn.Beside, preserveFocus });
    this.adopt(panel, content);
  }

  /** Shows the Lab when results arrive and no panel is open, without taking focus from the editor. */
  private ensureVisible(): void {
    if (this.panels.size === 0) this.reveal('lab', true);
  }

  private adopt(panel: vscode.WebviewPanel, content: LabPanelContent): void {
    const lab = new LabPanel(
      panel,
      content,
      this.extensionUri,
      (from, raw) => void this.receive(from, raw),
      (from) => {
        this.panels.delete(from);
        from.dispose();
      },
    );
    this.panels.add(lab);
  }

  private broadcast(message: HostToWebview, except?: LabPanel): void {
    for (const panel of this.panels) if (panel !== except) panel.send(message);
  }

  /** Everything a freshly loaded page needs to show the current state. */
  private snapshot(): HostToWebview[] {
    const out: HostToWebview[] = [];
    if (this.current) {
      out.push({ type: 'analysis', result: this.current.result, historyId: this.current.historyId });
      for (const [metric, trace] of this.current.traces) {
        if (metric !== this.current.result.trace.metric) out.push({ type: 'trace', historyId: this.current.historyId, trace });
      }
    } else if (this.streaming) {
      const s = this.streaming;
      out.push({ type: 'analysisStarted', prompt: s.prompt, nLayers: s.nLayers, nHeads: s.nHeads });
      for (const update of s.layers) out.push({ type: 'layer', update });
    }
    if (this.patchResult) out.push({ type: 'patch', result: this.patchResult });
    if (this.patchRunning) out.push({ type: 'patchBusy', busy: true });
    if (this.circuitReport) out.push({ type: 'circuit', report: this.circuitReport });
    out.push(...this.attribution.snapshot());
    out.push(...this.features.snapshot());
    if (Object.keys(this.selection).length > 0) out.push({ type: 'select', selection: this.selection });
    return out;
  }

  // ---------------------------------------------------------------- messages from webviews

  private async receive(from: LabPanel, raw: unknown): Promise<void> {
    const checked = validateWebviewMessage(raw);
    if (!checked.ok) {
      this.host.log.warn(`Lab: ignoring a malformed message from the webview: ${checked.error}`);
      return;
    }
    const message: WebviewToHost = checked.value;
    try {
      switch (message.type) {
        case 'ready':
          if (Object.keys(this.selection).length === 0 && message.restore) this.selection = message.restore.selection;
          await this.onReady(from, message.restore?.historyId ?? null);
          return;
        case 'selectionChanged':
          this.selection = message.selection;
          this.broadcast({ type: 'select', selection: message.selection }, from);
          this.host.onSelection(message.selection);
          return;
        case 'openView':
          this.reveal(message.view, false);
          return;
        case 'runPatch':
          await this.runPatch(from, message.requestId, message.request);
          return;
        case 'requestTrace':
          await this.requestTrace(from, message.requestId, message.historyId, message.metric);
          return;
        case 'checkEdge':
          await this.checkEdge(from, message.requestId, message.from, message.to);
          return;
        case 'measureCircuitSize':
          await this.circuitSizes.measure(message, (reply) => from.sendOrQueue(reply));
          return;
        case 'runAttribution':
        case 'runPathPatch':
          await this.attribution.run(message, (reply) => from.sendOrQueue(reply));
          return;
        case 'steerFeatures':
          await this.features.steer(message, (reply) => from.sendOrQueue(reply));
          return;
        case 'rebuildGraph':
          await this.features.rebuildGraph(message, (reply) => from.sendOrQueue(reply));
          return;
        case 'exportGraph':
          await this.features.exportGraph(message, (reply) => from.sendOrQueue(reply));
          return;
        case 'export':
          await this.export(from, message);
          return;
        case 'log':
          this.host.log[message.level](`Lab webview: ${message.message}`);
          return;
      }
    } catch (error) {
      this.host.log.error(`Lab: handling "${message.type}" failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async onReady(from: LabPanel, restoreHistoryId: string | null): Promise<void> {
    from.ready = true;
    if (!this.current && !this.streaming && restoreHistoryId !== null) {
      // After a window reload the controller is empty: refetch what the page was showing.
      const result = await this.host.getAnalysis(restoreHistoryId);
      if (result) {
        if (!this.current && !this.streaming) this.current = { result, historyId: restoreHistoryId, traces: new Map([[result.trace.metric, result.trace]]) };
      } else {
        from.send({ type: 'analysisMissing', historyId: restoreHistoryId });
      }
    }
    for (const message of this.snapshot()) from.send(message);
    from.flushQueue();
  }

  private async runPatch(from: LabPanel, requestId: number, request: PatchRequest): Promise<void> {
    if (this.patchRunning) {
      from.sendOrQueue({ type: 'reply', requestId, ok: false, error: 'A patch sweep is already running; wait for it to finish.' });
      return;
    }
    this.patchRunning = true;
    this.broadcast({ type: 'patchBusy', busy: true });
    try {
      const result = await this.host.runPatch(request);
      this.showPatch(result);
      from.sendOrQueue({ type: 'reply', requestId, ok: true });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      this.host.log.error(`Lab: patch sweep failed: ${text}`);
      from.sendOrQueue({ type: 'reply', requestId, ok: false, error: text });
    } finally {
      this.patchRunning = false;
      this.broadcast({ type: 'patchBusy', busy: false });
    }
  }

  private async requestTrace(from: LabPanel, requestId: number, historyId: string, metric: TraceMetric): Promise<void> {
    const current = this.current;
    if (!current || current.historyId !== historyId) {
      from.sendOrQueue({ type: 'reply', requestId, ok: false, error: 'That analysis is no longer the current one; run it again.' });
      return;
    }
    let trace = current.traces.get(metric);
    if (!trace) {
      if (!this.host.retrace) {
        from.sendOrQueue({ type: 'reply', requestId, ok: false, error: `This analysis holds only the ${current.result.trace.metric} trace.` });
        return;
      }
      try {
        trace = await this.host.retrace(historyId, metric);
      } catch (error) {
        from.sendOrQueue({ type: 'reply', requestId, ok: false, error: error instanceof Error ? error.message : String(error) });
        return;
      }
      current.traces.set(metric, trace);
    }
    this.broadcast({ type: 'trace', historyId, trace });
    from.sendOrQueue({ type: 'reply', requestId, ok: true });
  }

  private async checkEdge(from: LabPanel, requestId: number, sender: string, receiver: string): Promise<void> {
    const report = this.circuitReport;
    if (!report || !this.host.checkEdge) {
      from.sendOrQueue({
        type: 'reply',
        requestId,
        ok: false,
        error: report ? 'Edge checks are not available here.' : 'There is no circuit to check; run Find Circuit first.',
      });
      return;
    }
    const request: EdgeCheckRequest = {
      cleanIds: report.cleanIds,
      corruptIds: report.corruptIds,
      target: { id: report.targetId },
      ...(report.contrastId !== null ? { contrast: { id: report.contrastId } } : {}),
      from: sender,
      to: receiver,
    };
    try {
      const check = await this.host.checkEdge(request, report.model.id);
      this.broadcast({ type: 'edgeCheck', check });
      from.sendOrQueue({ type: 'reply', requestId, ok: true });
    } catch (error) {
      from.sendOrQueue({ type: 'reply', requestId, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  private async export(from: LabPanel, message: ExportMessage): Promise<void> {
    try {
      const saved = await saveLabExport(message, this.current?.result ?? null, this.patchResult, this.circuitReport, this.attribution.maps);
      if (saved) this.host.log.info(`Lab: exported ${message.view} as ${message.format} to ${saved.fsPath}`);
      from.sendOrQueue({ type: 'reply', requestId: message.requestId, ok: true });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      this.host.log.error(`Lab: export failed: ${text}`);
      from.sendOrQueue({ type: 'reply', requestId: message.requestId, ok: false, error: text });
    }
  }
}
