/**
 * What the engine keeps for feature requests on the loaded model: the dictionaries loaded so far (by
 * spec, loaded once and kept until the model changes) and the ONNX Runtime sessions that encode
 * and unembed; and the two requests, Engine.features and Engine.steerFeatures, from prompt to
 * structured-cloneable result.
 */
import { bosToPrepend, resolvePrompt, resolveTokenRef, type ResolvedPrompt } from '../analysis/prompt-input.js';
import { topPredictions } from '../analysis/predictions.js';
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { LoadedModel } from '../model/load-model.js';
import { MatmulSessions } from '../runtime/matmul-session.js';
import type { DictionarySpec, FeaturePrompt, FeaturesRequest, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../../protocol/features.js';
import type { Dictionary } from './dictionary.js';
import { featureActivations } from './feature-activations.js';
import { featureLogitEffects } from './feature-logit-effects.js';
import { steerFeatures } from './steer-features.js';

/** Loads the dictionary `spec` names for a model of shape `model` (the formats' loader; injectable for tests). */
export type DictionaryLoader = (
  spec: DictionarySpec,
  model: ModelConfig,
  options: { offline: boolean; cacheDir?: string; endpoint?: string; signal?: AbortSignal },
) => Promise<Dictionary>;

export interface FeatureRequestContext {
  loaded: LoadedModel;
  maxTokens: number;
  offline: boolean;
  cacheDir?: string;
  endpoint?: string;
  signal?: AbortSignal;
}

export class FeatureTools {
  private readonly dictionaries = new Map<string, Promise<Dictionary>>();
  private matmul: Promise<MatmulSessions> | null = null;

  constructor(private readonly loader: DictionaryLoader | undefined) {}

  async features(request: FeaturesRequest, context: FeatureRequestContext): Promise<FeaturesResult> {
    const started = performance.now();
    const { runner, tokenizer } = context.loaded;
    const prompt = this.prompt(request, context);
    const dictionary = await this.dictionary(request.dictionary, context);
    const matmul = await this.matmulSessions();
    const { layers, encoded } = await featureActivations(runner, matmul, dictionary, prompt.ids, {
      ...(request.topK !== undefined ? { topK: checkCount(request.topK, 'topK') } : {}),
      ...(request.layers ? { layers: request.layers } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
    });
    const k = checkCount(request.logitTokens ?? 5, 'logitTokens');
    const n = checkCount(request.logitFeatures ?? 32, 'logitFeatures');
    if (dictionary.labels === null && k > 0) {
      for (const view of layers) {
        const layer = encoded.find((e) => e.layer.layer === view.layer)!.layer;
        const features = [...view.heatmap.features.subarray(0, n)];
        view.logitEffects = await featureLogitEffects(matmul, layer, features, runner.weights, k, (id) => tokenizer.tokenText(id));
      }
    }
    return {
      dictionary: { id: dictionary.id, kind: dictionary.kind, modelName: dictionary.modelName },
      tokens: prompt.tokens,
      layers,
      elapsedMs: performance.now() - started,
    };
  }

  async steer(request: SteerFeaturesRequest, context: FeatureRequestContext): Promise<SteerFeaturesResult> {
    const started = performance.now();
    const { runner, tokenizer } = context.loaded;
    const prompt = this.prompt(request, context);
    const { dVocab } = runner.config;
    const target = request.target ? resolveTokenRef(tokenizer, request.target, dVocab, 'target') : null;
    const contrast = request.contrast ? resolveTokenRef(tokenizer, request.contrast, dVocab, 'contrast') : null;
    if (contrast !== null && target === null) throw new EngineError('BAD_ARGUMENT', 'A contrast token needs a target token.');
    const dictionary = await this.dictionary(request.dictionary, context);
    const position = request.position ?? prompt.ids.length - 1;
    const run = await steerFeatures(runner, await this.matmulSessions(), dictionary, prompt.ids, request.edits, {
      position,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    const k = checkCount(request.topK ?? 10, 'topK');
    const text = (id: number): string => tokenizer.tokenText(id);
    const diff = (logits: Float32Array): number => logits[target!]! - (contrast === null ? 0 : logits[contrast]!);
    return {
      tokens: prompt.tokens,
      position,
      before: topPredictions(run.before, k, text),
      after: topPredictions(run.after, k, text),
      logitDiff: target === null ? null : { target, contrast, before: diff(run.before), after: diff(run.after) },
      applied: run.applied,
      elapsedMs: performance.now() - started,
    };
  }

  /** Releases the dictionaries and sessions (when the model changes, and at the end). */
  async release(): Promise<void> {
    const dictionaries = [...this.dictionaries.values()];
    this.dictionaries.clear();
    const matmul = this.matmul;
    this.matmul = null;
    for (const d of dictionaries) await d.then((x) => x.dispose()).catch(() => undefined);
    await matmul?.then((m) => m.dispose()).catch(() => undefined);
  }

  private prompt(request: FeaturePrompt, context: FeatureRequestContext): ResolvedPrompt {
    const { config } = context.loaded.runner;
    return resolvePrompt(
      context.loaded.tokenizer,
      { ...(request.prompt !== undefined ? { prompt: request.prompt } : {}), ...(request.ids !== undefined ? { ids: request.ids } : {}) },
      { maxTokens: context.maxTokens, nCtx: config.nCtx, dVocab: config.dVocab, prependBosId: bosToPrepend(config, request.prependBos) },
    );
  }

  /** The dictionary of `spec` for the engine's other feature requests (attribution graphs), loaded once as for these. */
  loadedDictionary(spec: DictionarySpec, context: FeatureRequestContext): Promise<Dictionary> {
    return this.dictionary(spec, context);
  }

  /** The dictionary of `spec`, loaded on first use; a failed load is forgotten so that the next request tries again. */
  private dictionary(spec: DictionarySpec, context: FeatureRequestContext): Promise<Dictionary> {
    const loader = this.loader;
    if (!loader) throw new EngineError('BAD_ARGUMENT', 'This engine has no dictionary loader.');
    const key = JSON.stringify(spec);
    let loading = this.dictionaries.get(key);
    if (!loading) {
      loading = loader(spec, context.loaded.runner.config, {
        offline: context.offline,
        ...(context.cacheDir ? { cacheDir: context.cacheDir } : {}),
        ...(context.endpoint ? { endpoint: context.endpoint } : {}),
        ...(context.signal ? { signal: context.signal } : {}),
      });
      this.dictionaries.set(key, loading);
      const made = loading;
      made.catch(() => {
        if (this.dictionaries.get(key) === made) this.dictionaries.delete(key);
      });
    }
    return loading;
  }

  private matmulSessions(): Promise<MatmulSessions> {
    if (!this.matmul) {
      const made = MatmulSessions.create();
      this.matmul = made;
      made.catch(() => {
        if (this.matmul === made) this.matmul = null;
      });
    }
    return this.matmul;
  }
}

function checkCount(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 1000) throw new EngineError('BAD_ARGUMENT', `${name} must be an integer from 0 to 1000 (got ${value}).`);
  return value;
}
