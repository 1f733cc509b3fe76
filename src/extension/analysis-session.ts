/**
 * Runs analyses and patch sweeps for every entry point (commands, CodeLens, presets, history,
 * the Lab): through latest-wins queues, under a cancellable progress notification, streaming
 * layers to the Lab, and recording results (by analysis key) and history.
 */
import * as vscode from 'vscode';
import type { AnalysisResult, CircuitTrace, PatchSweepResult } from '../protocol/analysis.js';
import type { AnalyzeRequest, EngineApi, PatchRequest } from '../protocol/engine.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from '../protocol/circuit.js';
import type { CircuitSizesRequest, CircuitSizesResult } from '../protocol/circuit-sizes.js';
import { EngineError } from '../engine/errors.js';
import type { LabPanelController } from './panels/lab-panel.js';
import { analysisKey, type AnalysisQuestion } from './analysis-key.js';
import { HistoryStore, shortPromptName, type HistoryEntry } from './history-store.js';
import { LatestWinsQueue } from './request-queue.js';
import { ResultCache } from './result-cache.js';
import type { ModelManager } from './model/model-manager.js';
import { parseModelChoice } from './model/model-choice.js';
import { prependBosRequest, type Settings } from './settings.js';
import { PRESETS } from './presets.js';
import { formatPercent, quoteToken } from './format/token-text.js';
import { CircuitChecks } from './circuit-checks.js';

export interface Analysis {
  key: string;
  modelId: string;
  result: AnalysisResult;
  historyId: string;
}

/** Where a question came from: its display name and, for patching, its corrupted counterpart. */
export interface QuestionOrigin {
  name: string;
  corrupt?: string;
}

const IOI_PROMPT = PRESETS.find((p) => p.id === 'ioi')?.prompt ?? '';
/** Hub ids of GPT-2 small (the walkthrough's second model). */
export const GPT2_SMALL_REPOS: readonly string[] = ['openai-community/gpt2', 'gpt2'];

export class AnalysisSession implements vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** Fires when results, the running set or the current analysis change. */
  readonly onDidChange = this.changeEmitter.event;
  private readonly results = new ResultCache<Analysis>(16);
  private readonly running = new Set<string>();
  private readonly analysisQueue = new LatestWinsQueue();
  private readonly patchQueue = new LatestWinsQueue();
  private readonly circuitQueue = new LatestWinsQueue();
  /** The circuit view's size slider: a newer size cancels the one still measuring. */
  private readonly circuitSizeQueue = new LatestWinsQueue();
  private lab: LabPanelController | undefined;
  private currentAnalysis: Analysis | undefined;
  /** Checks of `@circuit` hypotheses (their CodeLens); their changes fire onDidChange too. */
  readonly circuits: CircuitChecks;

  constructor(
    private readonly engine: EngineApi,
    private readonly models: ModelManager,
    readonly history: HistoryStore,
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.circuits = new CircuitChecks(engine, models, settings, log, () => this.changeEmitter.fire());
    models.onWillSwitch(() => this.cancelAll('The model changed.'));
  }

  attachLab(lab: LabPanelController): void {
    this.lab = lab;
  }

  dispose(): void {
    this.cancelAll('Circuit Trace is shutting down.');
    this.circuits.dispose();
    this.changeEmitter.dispose();
  }

  cancelAll(reason: string): void {
    this.analysisQueue.cancelAll(reason);
    this.patchQueue.cancelAll(reason);
    this.circuitQueue.cancelAll(reason);
    this.circuitSizeQueue.cancelAll(reason);
    this.circuits.cancelAll();
  }

  get current(): Analysis | undefined {
    return this.currentAnalysis;
  }

  /** The finished analysis of this question on the active model, if any (never one of another text or model). */
  lookup(question: AnalysisQuestion): Analysis | undefined {
    return this.results.peek(analysisKey(question, this.models.active().id, this.settings().prependBos));
  }

  byKey(key: string): Analysis | undefined {
    return this.results.peek(key);
  }

  isRunning(question: AnalysisQuestion): boolean {
    return this.running.has(analysisKey(question, this.models.active().id, this.settings().prependBos));
  }

  /**
   * Analyzes `question` on the active model; the newest request wins. `toLab: false` skips the
   * Lab (restoring a panel); `quiet` shows no progress notification (Analyze Prompt File shows one for the batch).
   */
  async analyze(
    question: AnalysisQuestion,
    origin: QuestionOrigin,
    options: { toLab?: boolean; signal?: AbortSignal; quiet?: boolean } = {},
  ): Promise<Analysis> {
    const toLab = options.toLab ?? true;
    const run = (progress: vscode.Progress<{ message?: string; increment?: number }> | undefined, external: AbortSignal | undefined): Promise<Analysis> =>
      this.analysisQueue.submit(async (signal) => {
        const loaded = await this.models.ensureLoaded({ signal });
        if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
        const modelId = loaded.id;
        const settings = this.settings();
        const key = analysisKey(question, modelId, settings.prependBos);
        this.running.add(key);
        this.changeEmitter.fire();
        try {
          if (toLab) this.lab?.beginAnalysis(question.prompt, { nLayers: loaded.info.nLayers, nHeads: loaded.info.nHeads });
          const request: AnalyzeRequest = {
            prompt: question.prompt,
            topK: settings.topK,
            threshold: settings.headThreshold,
            perPosition: true,
          };
          const prependBos = prependBosRequest(settings.prependBos);
          if (prependBos !== undefined) request.prependBos = prependBos;
          if (question.target) request.target = question.target;
          if (question.contrast) request.contrast = question.contrast;
          if (question.metric) request.metric = question.metric;
          const stream = toLab && settings.streamAnimation;
          const started = Date.now();
          const result = await this.engine.analyze(request, {
            signal,
            onLayer: (update) => {
              progress?.report({ message: `layer ${update.layer + 1} of ${update.nLayers}`, increment: 100 / update.nLayers });
              if (stream) this.lab?.layer(update);
            },
          });
          const top = result.predictions[0];
          this.log.info(
            `Analyzed "${origin.name}" on ${loaded.info.displayName} in ${Date.now() - started} ms: ${result.tokens.length} tokens, top ${top ? `${quoteToken(top.token)} ${formatPercent(top.prob)}` : 'none'}.`,
          );
          const entry: Omit<HistoryEntry, 'id'> = {
            key,
            name: origin.name,
            prompt: question.prompt,
            modelId,
            modelName: loaded.info.displayName,
            createdAt: Date.now(),
          };
          if (question.target) entry.target = question.target;
          if (question.contrast) entry.contrast = question.contrast;
          if (question.metric) entry.metric = question.metric;
          if (origin.corrupt !== undefined) entry.corrupt = origin.corrupt;
          if (top) entry.top = { token: top.token, prob: top.prob };
          const stored = await this.history.add(entry);
          const analysis: Analysis = { key, modelId, result, historyId: stored.id };
          this.results.set(key, analysis);
          if (toLab) {
            this.currentAnalysis = analysis;
            this.lab?.showAnalysis(result, stored.id);
          }
          this.walkthroughProgress(question, modelId);
          return analysis;
        } finally {
          this.running.delete(key);
          this.changeEmitter.fire();
        }
      }, external);

    if (options.quiet) return run(undefined, options.signal);
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Circuit Trace: analyzing "${shortPromptName(origin.name, 40)}" on ${this.models.active().displayName}`,
        cancellable: true,
      },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
        return run(progress, controller.signal);
      },
    );
  }

  /** A head patch sweep; `show` sends it to the Lab (the Lab's own patch form shows it itself). */
  async patch(request: PatchRequest, origin: QuestionOrigin, options: { show?: boolean } = {}): Promise<PatchSweepResult> {
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Circuit Trace: patch sweep for "${shortPromptName(origin.name, 40)}" on ${this.models.active().displayName}`,
        cancellable: true,
      },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return this.patchQueue.submit(async (signal) => {
          const loaded = await this.models.ensureLoaded({ signal });
          if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
          if (!request.target) {
            throw new EngineError('BAD_ARGUMENT', 'A patch sweep needs a target token.', 'Add @target " token" to the prompt.');
          }
          const n = loaded.info.nLayers;
          // The BOS setting applies to sweeps from every entry point (CodeLens, the Lab's form) unless the request says.
          const result = await this.engine.patch(
            { prependBos: prependBosRequest(this.settings().prependBos), ...request },
            {
              signal,
              onLayer: (layer) => progress.report({ message: `layer ${layer + 1} of ${n}`, increment: 100 / n }),
            },
          );
          const best = [...result.entries].sort((a, b) => b.recovery - a.recovery)[0];
          this.log.info(
            `Patch sweep "${origin.name}" (${result.kind}) on ${loaded.info.displayName} in ${result.elapsedMs.toFixed(0)} ms` +
              (best ? `: best L${best.layer}${best.head !== undefined ? `H${best.head}` : ''} recovers ${(best.recovery * 100).toFixed(1)}%.` : '.'),
          );
          if (options.show ?? true) this.lab?.showPatch(result);
          return result;
        }, controller.signal);
      },
    );
  }

  /** Circuit discovery with its faithfulness curve, shown in the Lab's circuit view; the newest request wins. */
  async circuit(request: CircuitRequest, origin: QuestionOrigin): Promise<CircuitReport> {
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Circuit Trace: finding the circuit of "${shortPromptName(origin.name, 40)}" on ${this.models.active().displayName}`,
        cancellable: true,
      },
      (_progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return this.circuitQueue.submit(async (signal) => {
          const loaded = await this.models.ensureLoaded({ signal });
          if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
          const report = await this.engine.circuit({ prependBos: prependBosRequest(this.settings().prependBos), ...request }, { signal });
          const share = report.faithfulness === null ? 'n/a' : formatPercent(report.faithfulness);
          this.log.info(
            `Circuit "${origin.name}" (${report.method}) on ${loaded.info.displayName} in ${report.elapsedMs.toFixed(0)} ms: ${report.edges.length} edges, faithfulness ${share}.`,
          );
          this.lab?.showCircuit(report);
          return report;
        }, controller.signal);
      },
    );
  }

  /** Other sizes of a circuit found on model `modelId` (the Lab's size slider; no notification, the view says it is measuring); the newest request wins. */
  async circuitSizes(request: CircuitSizesRequest, modelId: string): Promise<CircuitSizesResult> {
    return this.circuitSizeQueue.submit(async (signal) => {
      const loaded = await this.models.ensureLoaded({ signal });
      if (!loaded || loaded.id !== modelId) throw new EngineError('BAD_ARGUMENT', 'The model changed since this circuit was found; run Find Circuit again.');
      const result = await this.engine.circuitSizes(request, { signal });
      const point = result.points
        .map((p) => `${p.requested} → ${p.edges} edges, ${p.faithfulness === null ? 'n/a' : formatPercent(p.faithfulness)}`)
        .join('; ');
      this.log.info(`Circuit sizes on ${loaded.info.displayName} in ${result.elapsedMs.toFixed(0)} ms: ${point}.`);
      return result;
    });
  }

  /** Path patching of one edge of a circuit found on model `modelId` (the Lab's circuit view, on a click). */
  async checkEdge(request: EdgeCheckRequest, modelId: string): Promise<EdgeCheck> {
    const loaded = await this.models.ensureLoaded();
    if (!loaded || loaded.id !== modelId) throw new EngineError('BAD_ARGUMENT', 'The model changed since this circuit was found; run Find Circuit again.');
    return this.engine.checkEdge({ ...request });
  }

  /** The top prediction of the clean prompt, the default patch target when none is given. */
  async topPrediction(question: AnalysisQuestion, origin: QuestionOrigin): Promise<number> {
    const analysis = this.lookup(question) ?? (await this.analyze(question, origin));
    const top = analysis.result.predictions[0];
    if (!top) throw new EngineError('INTERNAL', 'The analysis has no prediction to patch towards.');
    return top.tokenId;
  }

  /** Reopens a history entry: recomputed on the entry's model (switching to it when needed). */
  async reopen(historyId: string): Promise<Analysis | undefined> {
    const entry = this.history.get(historyId);
    if (!entry) {
      void vscode.window.showWarningMessage('Circuit Trace: that analysis is no longer in the history.');
      return undefined;
    }
    if (entry.modelId !== this.models.active().id) {
      const choice = parseModelChoice(entry.modelId);
      if (!choice) return undefined;
      void vscode.window.showInformationMessage(`Circuit Trace: switching to ${entry.modelName} to reopen "${entry.name}".`);
      await this.models.select(choice);
    }
    const cached = this.results.get(entry.key);
    if (cached) {
      this.show(cached);
      return cached;
    }
    return this.analyze(this.questionOf(entry), this.originOf(entry));
  }

  /** LabHost.getAnalysis: the analysis of a history entry, recomputed when it is not in memory. */
  async getAnalysis(historyId: string): Promise<AnalysisResult | undefined> {
    const inMemory = this.results.values().find((a) => a.historyId === historyId);
    if (inMemory) return inMemory.result;
    const entry = this.history.get(historyId);
    if (!entry || entry.modelId !== this.models.active().id) return undefined;
    try {
      return (await this.analyze(this.questionOf(entry), this.originOf(entry), { toLab: false })).result;
    } catch (error) {
      this.log.warn(`Could not recompute "${entry.name}" for the Lab: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  /** LabHost.retrace: the trace of an analysis under the other metric (with or without its contrast). */
  async retrace(historyId: string, metric: CircuitTrace['metric']): Promise<CircuitTrace> {
    const analysis = this.results.values().find((a) => a.historyId === historyId);
    const entry = this.history.get(historyId);
    if (!analysis || !entry) throw new EngineError('BAD_ARGUMENT', 'That analysis is no longer available; run it again.');
    if (metric === 'logit_diff' && !entry.contrast)
      throw new EngineError('BAD_ARGUMENT', 'A logit-difference trace needs a contrast token.', 'Add @contrast " token" to the prompt.');
    const loaded = await this.models.ensureLoaded();
    if (!loaded || loaded.id !== analysis.modelId) throw new EngineError('BAD_ARGUMENT', 'The model changed since this analysis; run it again.');
    const settings = this.settings();
    const request: AnalyzeRequest = {
      prompt: entry.prompt,
      topK: settings.topK,
      threshold: settings.headThreshold,
      target: { id: analysis.result.trace.targetId },
      prependBos: analysis.result.prependBos,
    };
    if (metric === 'logit_diff' && entry.contrast) request.contrast = entry.contrast;
    return (await this.engine.analyze(request)).trace;
  }

  questionOf(entry: HistoryEntry): AnalysisQuestion {
    const question: AnalysisQuestion = { prompt: entry.prompt };
    if (entry.target) question.target = entry.target;
    if (entry.contrast) question.contrast = entry.contrast;
    if (entry.metric) question.metric = entry.metric;
    return question;
  }

  originOf(entry: HistoryEntry): QuestionOrigin {
    return entry.corrupt !== undefined ? { name: entry.name, corrupt: entry.corrupt } : { name: entry.name };
  }

  /** Makes a finished analysis the current one and shows it in the Lab. */
  show(analysis: Analysis): void {
    this.currentAnalysis = analysis;
    this.lab?.showAnalysis(analysis.result, analysis.historyId);
    this.changeEmitter.fire();
  }

  /** Forgets the in-memory result of a deleted history entry. */
  forget(historyId: string): void {
    const analysis = this.results.values().find((a) => a.historyId === historyId);
    if (analysis) this.results.delete(analysis.key);
    if (this.currentAnalysis?.historyId === historyId) this.currentAnalysis = undefined;
    this.changeEmitter.fire();
  }

  private walkthroughProgress(question: AnalysisQuestion, modelId: string): void {
    if (question.prompt !== IOI_PROMPT) return;
    if (modelId === 'organism') void vscode.commands.executeCommand('setContext', 'circuitTrace.walkthrough.ioiOnOrganism', true);
    if (GPT2_SMALL_REPOS.includes(modelId)) void vscode.commands.executeCommand('setContext', 'circuitTrace.walkthrough.ioiOnGpt2', true);
  }
}
