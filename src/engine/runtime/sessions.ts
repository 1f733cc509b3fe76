/**
 * ONNX Runtime sessions of a loaded model: one per transformer block plus one for ln_final and the
 * unembedding (see onnx/gpt2-graphs.ts for why), created on the first execution provider that
 * starts, with the session options the engine's many small calls need.
 */
import * as ort from 'onnxruntime-node';
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights, CanonicalModel } from '../model/weights.js';
import { buildBlockGraph, buildFinalGraph } from '../onnx/gpt2-graphs.js';
import { buildGemmaBlockGraph, buildGemmaFinalGraph } from '../onnx/gemma-graphs.js';
import { buildLlamaBlockGraph, buildLlamaFinalGraph } from '../onnx/llama-graphs.js';
import { buildNeoxBlockGraph } from '../onnx/neox-graphs.js';
import { graphFamily } from '../model/config.js';
import type { BuiltGraph, WeightMode } from '../onnx/graph-builder.js';
import { retainForAnalyses } from './analysis-weights.js';
import { unpatchedFeeds } from './block-feeds.js';
import { chooseDevice } from './devices.js';
import { InitializerFolder, type InitializerFiles } from './initializer-files.js';
import { f32 } from './ort-tensors.js';
import { logitsMayOverflow } from './output-check.js';
import type { DeviceRequest } from './types.js';

export interface RuntimeOptions {
  device?: DeviceRequest;
  /** Intra-op threads (default: ONNX Runtime's choice, one per core). */
  threads?: number;
  /**
   * How the weights reach ONNX Runtime (see WeightMode). Default 'initializers': ONNX Runtime
   * pre-packs them for its GEMM kernels once, which the many small calls of a forward and of
   * patching sweeps need. The unembedding then exists twice, as the token embedding the engine
   * keeps for embedding lookups and the analyses, and pre-packed in ONNX Runtime (150 MB for GPT-2
   * small): its GEMM, a quarter of a 64-token forward and a third of a patching sweep, is a fifth
   * faster so.
   */
  weightMode?: WeightMode;
  /** With initializers: whether blocks load through temporary files (see initializer-files.ts). Default 'auto'. */
  initializerFiles?: InitializerFiles;
}

/** A loaded model's sessions and what every call feeds them. */
export interface ModelSessions {
  readonly config: ModelConfig;
  /** The weights the analyses read (and the embedding lookups). */
  readonly weights: AnalysisWeights;
  readonly provider: string;
  /** Why `provider` differs from the request, if it does. */
  readonly deviceNote: string | null;
  readonly blocks: readonly ort.InferenceSession[];
  readonly final: ort.InferenceSession;
  /** Per session (blocks, then final): weight tensors fed on every run in 'inputs' mode. */
  readonly weightFeeds: ReadonlyArray<Record<string, ort.Tensor>>;
  /** The block inputs of a call that patches, routes and caches nothing. */
  readonly unpatched: Record<string, ort.Tensor>;
  /** Whether logits can overflow with a finite residual stream, so runs must scan them (output-check.ts). */
  readonly logitsMayOverflow: boolean;
  /** Initializer files the system would not delete while the sessions held them (Windows). */
  readonly leftoverFiles: InitializerFolder | null;
}

export function sessionOptions(provider: string, threads: number | undefined): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // Each session has its own intra-op thread pool. Within a run its worker spins between
    // parallel sections rather than sleeping: waking it by the operating system for each of
    // a block's small kernels (LayerNorm, attention, FastGelu) costs 20-60 us apiece, about
    // 1.5 ms of a 64-token GPT-2 small forward. At the end of a run it stops spinning, so that
    // a finished session's pool neither steals the cores from the next block's session nor
    // burns them while the engine is idle (test/engine/runtime/thread-pool-idle.test.ts).
    extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' } },
    // Errors only: ONNX's shape inference for the Attention operator gives its pattern
    // output a last dimension of 0 when the sequence length is not known statically, and
    // ONNX Runtime would warn of the mismatch on every run (the values are right; tested).
    logSeverityLevel: 3,
    ...(threads ? { intraOpNumThreads: threads } : {}),
  };
}

/** Builds every graph and creates its session, on the first provider of the device choice that starts. */
export async function createSessions(model: CanonicalModel, options: RuntimeOptions = {}): Promise<ModelSessions> {
  const choice = chooseDevice(options.device ?? 'cpu', ort.listSupportedBackends());
  const mode = options.weightMode ?? 'initializers';
  const llama = graphFamily(model.config) === 'llama';
  const gemma = graphFamily(model.config) === 'gemma';
  // GPT-NeoX: its own blocks, GPT-2's final graph (LayerNorm with bias, then the unembedding).
  const neox = !llama && !gemma && graphFamily(model.config) !== 'gpt2';
  let note = choice.note;
  for (const provider of choice.providers) {
    const sessions: ort.InferenceSession[] = [];
    const folder = new InitializerFolder(options.initializerFiles ?? 'auto');
    try {
      const { nLayers } = model.config;
      const weightFeeds: Array<Record<string, ort.Tensor>> = new Array(nLayers + 1);
      // With initializers, ONNX Runtime holds its own copy of the blocks' weights; keep only what
      // the analyses read, in arrays of their own, so the checkpoint's buffers can be freed.
      const weights = mode === 'initializers' ? retainForAnalyses(model.weights) : model.weights;
      // One graph at a time, so that each graph's temporary arrays are garbage before the next is
      // built; the unembedding first, while ONNX Runtime's transient copy of it (150 MB for GPT-2
      // small, freed once pre-packed) meets the smallest footprint: this keeps the load's peak low.
      for (const l of [nLayers, ...Array.from({ length: nLayers }, (_, i) => i)]) {
        const [block, final] = llama
          ? [buildLlamaBlockGraph, buildLlamaFinalGraph]
          : gemma
            ? [buildGemmaBlockGraph, buildGemmaFinalGraph]
            : neox
              ? [buildNeoxBlockGraph, buildFinalGraph]
              : [buildBlockGraph, buildFinalGraph];
        const graph: BuiltGraph = l < nLayers ? block(model.config, model.weights.blocks[l]!, l, mode) : final(model.config, weights, mode);
        const opts = sessionOptions(provider, options.threads);
        const modelPath = folder.wants(graph) ? folder.write(graph, l < nLayers ? `block${l}` : 'final') : null;
        sessions[l] =
          modelPath !== null
            ? await ort.InferenceSession.create(modelPath, opts)
            : await ort.InferenceSession.create(graph.model, { ...opts, externalData: graph.externalData.map((e) => ({ path: e.path, data: e.data })) });
        if (modelPath !== null) folder.discard(modelPath);
        weightFeeds[l] = Object.fromEntries([...graph.weightFeeds].map(([name, w]) => [name, f32(w.data, w.dims)]));
      }
      const final = sessions.pop()!;
      return {
        config: model.config,
        weights,
        provider,
        deviceNote: note,
        blocks: sessions,
        final,
        weightFeeds,
        unpatched: unpatchedFeeds(model.config),
        logitsMayOverflow: logitsMayOverflow(weights),
        leftoverFiles: folder.remove() ? null : folder,
      };
    } catch (error) {
      await Promise.all(sessions.filter(Boolean).map((s) => s.release().catch(() => undefined)));
      folder.remove();
      // The checkpoint's own errors (adapters read block weights as their graphs are built): no provider would do better.
      if (error instanceof EngineError) throw error;
      if (provider === 'cpu') throw new EngineError('INTERNAL', `ONNX Runtime could not create the model: ${(error as Error).message}`);
      note = `The ${provider} execution provider failed to start (${(error as Error).message.split('\n')[0]}); using the CPU.`;
    }
  }
  throw new EngineError('DEVICE_UNAVAILABLE', 'No execution provider could run the model.');
}

export async function releaseSessions(s: ModelSessions): Promise<void> {
  await Promise.all([...s.blocks, s.final].map((session) => session.release()));
  s.leftoverFiles?.remove();
}
