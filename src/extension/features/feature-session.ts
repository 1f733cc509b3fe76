/**
 * The extension's side of sparse dictionaries: which dictionary is loaded (kept in the workspace
 * state), and the engine runs that use it: loading it, a prompt's features, steering, attribution
 * graphs (built again at other thresholds on the Lab's request), each through
 * its own latest-wins queue under a cancellable progress notification, with the BOS setting
 * applied as to analyses. Every run happens in the engine's worker; the host only passes specs and
 * results. Switching the model cancels the runs (the engine drops its dictionaries with the model
 * and loads the chosen one again on the next request).
 */
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import type { AttributionGraphResult, EngineAttributionGraphApi } from '../../protocol/attribution-graph-run.js';
import type { DictionarySpec, EngineFeaturesApi, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../../protocol/features.js';
import type { FeatureRunKind } from '../../protocol/feature-messages.js';
import type { ModelManager } from '../model/model-manager.js';
import { LatestWinsQueue } from '../request-queue.js';
import { prependBosRequest, type Settings } from '../settings.js';
import { dictionaryLocation, dictionaryName, storedDictionary } from './dictionary-choice.js';
import { graphJsonDocument, graphSlug } from './graph-export.js';
import type { GraphPins, GraphSource } from './lab-features.js';

/** Where the feature views show results (the Lab's feature runs). */
export interface FeatureDisplay {
  showFeatures(result: FeaturesResult, dictionary: DictionarySpec, dictionaryName: string): void;
  showGraph(graph: AttributionGraphResult, source: GraphSource): void;
  setBusy(run: FeatureRunKind, busy: boolean): void;
}

const PHASE_NAMES = { activations: 'feature activations', backward: 'backward passes', pruning: 'pruning' } as const;

/** What a loaded dictionary is, from its check run. */
export interface DictionarySummary {
  name: string;
  kind: FeaturesResult['dictionary']['kind'];
  layers: number[];
  hooks: string[];
  dSae: number;
}

export const DICTIONARY_STATE_KEY = 'circuitTrace.dictionary';
/** The prompt a load is checked with: one word, so the check encodes one or two positions. */
const CHECK_PROMPT = 'The';

const KIND_NAMES: Record<DictionarySummary['kind'], string> = { sae: 'SAE', transcoder: 'transcoder', cross_layer_transcoder: 'cross-layer transcoder' };

/** One line describing a loaded dictionary. */
export function describeDictionary(summary: DictionarySummary): string {
  const layers = summary.layers.length === 1 ? `layer ${summary.layers[0]}` : `${summary.layers.length} layers`;
  const hooks = summary.hooks.length <= 2 ? summary.hooks.join(', ') : `${summary.hooks[0]} … ${summary.hooks[summary.hooks.length - 1]}`;
  return `${summary.name}: ${KIND_NAMES[summary.kind]}, ${layers} (${hooks}), ${summary.dSae.toLocaleString('en-US')} features`;
}

export function summarize(name: string, result: FeaturesResult): DictionarySummary {
  return {
    name,
    kind: result.dictionary.kind,
    layers: result.layers.map((l) => l.layer),
    hooks: result.layers.map((l) => l.inputHook),
    dSae: Math.max(0, ...result.layers.map((l) => l.dSae)),
  };
}

export class FeatureSession implements vscode.Disposable {
  private readonly loadQueue = new LatestWinsQueue();
  private readonly featureQueue = new LatestWinsQueue();
  private readonly steerQueue = new LatestWinsQueue();
  private readonly graphQueue = new LatestWinsQueue();
  private summary: DictionarySummary | null = null;

  constructor(
    private readonly engine: EngineFeaturesApi & EngineAttributionGraphApi,
    private readonly models: Pick<ModelManager, 'ensureLoaded' | 'active' | 'onWillSwitch'>,
    private readonly state: vscode.Memento,
    private readonly settings: () => Settings,
    private readonly log: Pick<vscode.LogOutputChannel, 'info' | 'warn'>,
    private readonly display: FeatureDisplay,
  ) {
    models.onWillSwitch(() => {
      this.summary = null;
      this.cancelAll('The model changed.');
    });
  }

  /** The chosen dictionary (null before Load Dictionary). */
  get dictionary(): DictionarySpec | null {
    return storedDictionary(this.state.get(DICTIONARY_STATE_KEY));
  }

  /** What the last load or features run found in it (null until one ran on the current model). */
  get loaded(): DictionarySummary | null {
    return this.summary;
  }

  cancelAll(reason: string): void {
    for (const queue of [this.loadQueue, this.featureQueue, this.steerQueue, this.graphQueue]) queue.cancelAll(reason);
  }

  dispose(): void {
    this.cancelAll('Circuit Trace is shutting down.');
  }

  /** Loads `spec` in the engine and checks it against the model (a one-word features run); it becomes the dictionary. */
  async load(spec: DictionarySpec): Promise<DictionarySummary> {
    this.checkTrusted(spec);
    const name = dictionaryName(spec);
    const result = await this.withProgress(`loading the dictionary ${name}`, this.loadQueue, (signal) =>
      this.engine.features({ dictionary: spec, prompt: CHECK_PROMPT, topK: 1, logitTokens: 0, ...this.bos() }, { signal }),
    );
    await this.state.update(DICTIONARY_STATE_KEY, spec);
    this.summary = summarize(name, result);
    this.log.info(`Dictionary loaded from ${dictionaryLocation(spec)} in ${result.elapsedMs.toFixed(0)} ms: ${describeDictionary(this.summary)}.`);
    return this.summary;
  }

  /** The prompt's features under the chosen dictionary, shown in the Lab's Features view. */
  async features(prompt: string, options: { topK?: number } = {}): Promise<FeaturesResult> {
    const spec = this.requireDictionary();
    const name = dictionaryName(spec);
    const result = await this.withProgress(`features of the prompt under ${name}`, this.featureQueue, (signal) =>
      this.engine.features({ dictionary: spec, prompt, topK: options.topK ?? 10, ...this.bos() }, { signal }),
    );
    this.summary = summarize(name, result);
    const active = result.layers.reduce((n, l) => n + l.active.features.length, 0);
    this.log.info(`Features of ${result.tokens.length} tokens under ${name} in ${result.elapsedMs.toFixed(0)} ms: ${active} active (feature, position) pairs.`);
    this.display.showFeatures(result, spec, name);
    return result;
  }

  /** Steers the features of a prompt given as ids (the Features view's form). */
  steer(request: SteerFeaturesRequest): Promise<SteerFeaturesResult> {
    return this.withProgress(`steering ${request.edits.length} feature edit${request.edits.length === 1 ? '' : 's'}`, this.steerQueue, async (signal) => {
      const result = await this.engine.steerFeatures(request, { signal });
      this.log.info(`Steered ${result.applied.length} (feature, position) activations in ${result.elapsedMs.toFixed(0)} ms.`);
      return result;
    });
  }

  /**
   * The attribution graph of `prompt` under the chosen transcoders, shown in the Lab's Attribution
   * Graph view, with the features of the same token ids (a feature node's activations and top
   * logits on hover) in the Features view.
   */
  async attributionGraph(prompt: string): Promise<AttributionGraphResult> {
    const dictionary = this.requireDictionary();
    const name = dictionaryName(dictionary);
    return this.graphRun(`attribution graph under ${name}`, async (signal, report) => {
      const graph = await this.engine.attributionGraph({ dictionary, prompt, ...this.bos() }, { signal, onProgress: report });
      const source: GraphSource = { ids: graph.ids, prompt, dictionary, dictionaryName: name };
      this.logGraph(graph, name);
      this.display.showGraph(graph, source);
      // The hover details' activations and logits; the graph stands without them.
      try {
        this.display.showFeatures(await this.engine.features({ dictionary, ids: graph.ids }, { signal }), dictionary, name);
      } catch (error) {
        if (signal.aborted) throw error;
        this.log.warn(
          `The features of the graph's prompt failed (${error instanceof Error ? error.message : String(error)}); its nodes show no activations across the prompt.`,
        );
      }
      return graph;
    });
  }

  /** The graph of `source` built again at other thresholds (the Lab's sliders). */
  rebuildGraph(source: GraphSource, thresholds: { nodeThreshold: number; edgeThreshold: number }): Promise<AttributionGraphResult> {
    return this.graphRun(`attribution graph at node ${thresholds.nodeThreshold}, edge ${thresholds.edgeThreshold}`, async (signal, report) => {
      const graph = await this.engine.attributionGraph({ dictionary: source.dictionary, ids: source.ids, ...thresholds }, { signal, onProgress: report });
      this.logGraph(graph, source.dictionaryName);
      return graph;
    });
  }

  /** Saves `graph` as circuit-tracer's graph JSON with the pins, where the user picks; false when they cancelled. */
  async saveGraphJson(source: GraphSource, graph: AttributionGraphResult, pins: GraphPins): Promise<boolean> {
    const bytes = new TextEncoder().encode(JSON.stringify(graphJsonDocument(graph, source, pins), null, 1));
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: 'Export the attribution graph as circuit-tracer JSON',
      filters: { JSON: ['json'] },
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `${graphSlug(source.prompt)}.json`) } : {}),
    });
    if (!target) return false;
    await vscode.workspace.fs.writeFile(target, bytes);
    this.log.info(`Attribution graph saved as circuit-tracer JSON to ${target.fsPath}.`);
    return true;
  }

  private logGraph(graph: AttributionGraphResult, name: string): void {
    const t = graph.timings;
    this.log.info(
      `Attribution graph of ${graph.ids.length} tokens under ${name}: ${graph.counts.keptNodes} nodes, ${graph.counts.keptLinks} links, replacement ${graph.replacementScore.toFixed(3)}, completeness ${graph.completenessScore.toFixed(3)}; ${t.activationMs.toFixed(0)} ms activations, ${t.backwardMs.toFixed(0)} ms backward, ${t.pruningMs.toFixed(0)} ms pruning.`,
    );
  }

  /** A graph run in the graph queue, reporting the engine's phases, with the Lab's graph views marked busy meanwhile. */
  private async graphRun<T>(
    what: string,
    task: (signal: AbortSignal, report: (p: { phase: keyof typeof PHASE_NAMES; done: number; total: number }) => void) => Promise<T>,
  ): Promise<T> {
    this.display.setBusy('graph', true);
    try {
      return await this.withProgress(what, this.graphQueue, (signal, progress) =>
        task(signal, (p) => progress(p.phase === 'backward' && p.total > 0 ? `${p.done} of ${p.total} features visited` : PHASE_NAMES[p.phase])),
      );
    } finally {
      this.display.setBusy('graph', false);
    }
  }

  /** The chosen dictionary, or a typed error that says how to choose one. */
  requireDictionary(): DictionarySpec {
    const spec = this.dictionary;
    if (!spec) throw new EngineError('BAD_ARGUMENT', 'No dictionary is loaded.', 'Run "Circuit Trace: Load Dictionary…" first.');
    this.checkTrusted(spec);
    return spec;
  }

  /** As for models: an untrusted workspace reads no dictionary from a local folder. */
  private checkTrusted(spec: DictionarySpec): void {
    if (spec.kind === 'folder' && !vscode.workspace.isTrusted)
      throw new EngineError(
        'UNTRUSTED_WORKSPACE',
        `This workspace is not trusted, so the dictionary in ${spec.path} is not read.`,
        'Trust the workspace, or load a dictionary from the Hugging Face Hub.',
      );
  }

  private bos(): { prependBos?: boolean } {
    const prependBos = prependBosRequest(this.settings().prependBos);
    return prependBos === undefined ? {} : { prependBos };
  }

  /** Runs `task` once the model is loaded, in `queue`, under a cancellable notification. */
  withProgress<T>(what: string, queue: LatestWinsQueue, task: (signal: AbortSignal, progress: (message: string) => void) => Promise<T>): Promise<T> {
    return Promise.resolve(
      vscode.window.withProgress<T>(
        { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: ${what} on ${this.models.active().displayName}`, cancellable: true },
        (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          return queue.submit(async (signal) => {
            const loaded = await this.models.ensureLoaded({ signal });
            if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
            return task(signal, (message) => progress.report({ message }));
          }, controller.signal);
        },
      ),
    );
  }
}
