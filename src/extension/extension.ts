/**
 * Entry of the VS Code extension: wires the engine worker, the model manager, the analysis
 * session, the `.prompt` language features, the explorer views, the Lab and the commands.
 * VS Code glue only: all computing happens in the engine, in a worker thread. No telemetry.
 */
import * as vscode from 'vscode';
import { createEngineClient } from '../engine/worker/engine-client.js';
import { AnalysisSession, GPT2_SMALL_REPOS } from './analysis-session.js';
import { AttributionRuns } from './attribution-runs.js';
import { FeatureSession } from './features/feature-session.js';
import { withShownMetric } from './lab-patch-metric.js';
import { registerCommands } from './commands/index.js';
import { HistoryStore } from './history-store.js';
import { ModelManager } from './model/model-manager.js';
import { LabPanelController } from './panels/lab-panel.js';
import { PromptDocuments } from './prompt-file/prompt-documents.js';
import { registerPromptLanguage } from './prompt-file/prompt-language.js';
import { readSettings, SETTINGS_SECTION, type Settings } from './settings.js';
import { HeadsViewProvider } from './views/heads-view.js';
import { HistoryViewProvider } from './views/history-view.js';
import { ModelsViewProvider } from './views/models-view.js';
import { PresetsViewProvider } from './views/presets-view.js';

let disposeEngine: (() => Promise<void>) | undefined;

function currentSettings(): Settings {
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return readSettings((key) => config.get(key));
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Circuit Trace', { log: true });
  context.subscriptions.push(log);
  log.info(
    `Circuit Trace ${String((context.extension.packageJSON as { version?: unknown }).version ?? '')} activating (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'not trusted: models load only from the cache or the Hub'}).`,
  );

  const engine = createEngineClient({ workerPath: context.asAbsolutePath('dist/engine-worker.js') });
  disposeEngine = () => engine.dispose();
  let crashWarned = false;
  context.subscriptions.push(
    engine.onCrash((error) => {
      log.error(`The engine worker crashed: ${error.message}. It restarts on the next request and reloads the model.`);
      if (crashWarned) return;
      crashWarned = true;
      void vscode.window
        .showWarningMessage('Circuit Trace: the engine stopped unexpectedly. It restarts (and reloads the model) on the next request.', 'Show Logs')
        .then((pick) => {
          if (pick === 'Show Logs') log.show();
        });
    }),
  );

  const models = new ModelManager(engine, currentSettings, context.extensionUri, context.globalStorageUri, log);
  context.subscriptions.push(models);
  const history = new HistoryStore(context.workspaceState);
  const session = new AnalysisSession(engine, models, history, currentSettings, log);
  context.subscriptions.push(session);

  // Views.
  const modelsView = new ModelsViewProvider(models);
  const presetsView = new PresetsViewProvider(log);
  const headsView = new HeadsViewProvider(session);
  const historyView = new HistoryViewProvider(history);
  const headsTree = vscode.window.createTreeView('circuitTrace.heads', { treeDataProvider: headsView, showCollapseAll: true });
  context.subscriptions.push(
    modelsView,
    presetsView,
    headsView,
    historyView,
    vscode.window.createTreeView('circuitTrace.models', { treeDataProvider: modelsView }),
    vscode.window.createTreeView('circuitTrace.presets', { treeDataProvider: presetsView, showCollapseAll: true }),
    headsTree,
    vscode.window.createTreeView('circuitTrace.history', { treeDataProvider: historyView }),
    session.onDidChange(() => {
      headsTree.message = headsView.summary();
      historyView.refresh();
      void vscode.commands.executeCommand('setContext', 'circuitTrace.hasAnalysis', session.current !== undefined);
    }),
  );

  const attributionRuns = new AttributionRuns(engine, models, currentSettings, log);
  context.subscriptions.push(attributionRuns);

  // The Lab (webview panels, owned by src/extension/panels).
  const lab = LabPanelController.register(context, {
    log,
    getAnalysis: (historyId) => session.getAnalysis(historyId),
    runPatch: (request) =>
      session.patch(
        withShownMetric(request, session.current?.result),
        { name: request.clean ?? 'Lab patch sweep', ...(request.corrupt !== undefined ? { corrupt: request.corrupt } : {}) },
        { show: false },
      ),
    retrace: (historyId, metric) => session.retrace(historyId, metric),
    checkEdge: (request, modelId) => session.checkEdge(request, modelId),
    circuitSizes: (request, modelId) => session.circuitSizes(request, modelId),
    attribute: (request) => attributionRuns.attribute(request),
    pathPatch: (request) => attributionRuns.pathPatch(request),
    steerFeatures: (request) => features.steer(request),
    rebuildGraph: (source, thresholds) => features.rebuildGraph(source, thresholds),
    saveGraphJson: (source, graph, pins) => features.saveGraphJson(source, graph, pins),
    onSelection: (selection) => {
      if (selection.layer === undefined || selection.head === undefined || !headsTree.visible) return;
      const node = headsView.nodeFor(selection.layer, selection.head);
      if (node) void headsTree.reveal(node, { select: true, focus: false, expand: true });
    },
  });
  session.attachLab(lab);
  const features = new FeatureSession(engine, models, context.workspaceState, currentSettings, log, lab.features);
  context.subscriptions.push(features);

  // `.prompt` language features.
  const documents = new PromptDocuments();
  registerPromptLanguage(context.subscriptions, { documents, session, models, engine, settings: currentSettings, log });

  registerCommands({ extension: context, session, models, documents, lab, features, log, refreshHistory: () => historyView.refresh() });

  // Settings apply without a reload.
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(SETTINGS_SECTION)) return;
      if (models.configurationChanged()) log.info(`Model settings changed; the active model is now ${models.active().displayName} (${models.active().id}).`);
      models.updateStatus();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      log.info('The workspace is now trusted: local model folders may be loaded.');
      models.settingsChangedByTrust();
    }),
    models.onDidChange(() => {
      const cachedGpt2 = models.cachedModels.some((c) => c.complete && GPT2_SMALL_REPOS.includes(c.repo));
      void vscode.commands.executeCommand('setContext', 'circuitTrace.walkthrough.gpt2Cached', cachedGpt2);
    }),
  );

  void models.refresh();
}

export async function deactivate(): Promise<void> {
  await disposeEngine?.();
  disposeEngine = undefined;
}
