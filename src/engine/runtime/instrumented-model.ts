/**
 * The instrumented forward pass on ONNX Runtime. One session per transformer block plus one for
 * ln_final + unembedding (see onnx/gpt2-graphs.ts for why), run in sequence; only the requested
 * hook points are fetched from each session. Embedding lookups are row gathers in JavaScript.
 *
 * `run()` of onnxruntime-node blocks the calling thread: construct this inside the engine's worker
 * thread, never on the extension host's thread.
 */
import * as ort from 'onnxruntime-node';
import { EngineError, throwIfCancelled } from '../errors.js';
import { allHookNames, parseHookName, type ActivationCache, type HookName, type LayerHook } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights, CanonicalModel, ModelWeights } from '../model/weights.js';
import { buildBlockGraph, buildFinalGraph, MASKED, type BlockOutput } from '../onnx/gpt2-graphs.js';
import type { BuiltGraph, WeightMode } from '../onnx/graph-builder.js';
import { tensor, type Tensor } from '../tensor.js';
import { chooseDevice } from './devices.js';
import { InitializerFolder, type InitializerFiles } from './initializer-files.js';
import type {
  DeviceRequest, ForwardOptions, ForwardResult, ForwardRunner, InterventionRequest, InterventionVariant, KeysValues, PackedRunRequest, PackedRunResult, TokenScores,
} from './types.js';
import { packedLayout, packedMask, packedRouting, rowsAt } from './packed-layout.js';

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

/** Which block output carries each per-layer hook (resid_pre is the block's input). */
const LAYER_HOOK_OUTPUT: Record<Exclude<LayerHook, 'hook_resid_pre'>, BlockOutput> = {
  'attn.hook_pattern': 'pattern',
  'attn.hook_z': 'z',
  hook_attn_out: 'attn_out',
  hook_resid_mid: 'resid_mid',
  hook_mlp_out: 'mlp_out',
  hook_resid_post: 'resid_post',
};

interface HookPlan {
  global: Set<string>;
  /** Per layer, the hooks wanted. */
  layers: Array<Set<LayerHook>>;
}

export class InstrumentedModel implements ForwardRunner {
  private constructor(
    readonly config: ModelConfig,
    readonly weights: AnalysisWeights,
    readonly provider: string,
    /** Why `provider` differs from the request, if it does. */
    readonly deviceNote: string | null,
    private readonly blocks: ort.InferenceSession[],
    private readonly final: ort.InferenceSession,
    /** Per session (blocks, then final): weight tensors fed on every run in 'inputs' mode. */
    private readonly weightFeeds: Array<Record<string, ort.Tensor>>,
    /** Initializer files the system would not delete while the sessions held them (Windows). */
    private readonly leftoverFiles: InitializerFolder | null,
  ) {
    this.unpatched = unpatchedFeeds(config);
  }

  /** The block inputs of a call that patches, routes and caches nothing. */
  private readonly unpatched: Record<string, ort.Tensor>;

  static async create(model: CanonicalModel, options: RuntimeOptions = {}): Promise<InstrumentedModel> {
    const choice = chooseDevice(options.device ?? 'cpu', ort.listSupportedBackends());
    const mode = options.weightMode ?? 'initializers';
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
          const graph: BuiltGraph = l < nLayers
            ? buildBlockGraph(model.config, model.weights.blocks[l]!, l, mode)
            : buildFinalGraph(model.config, weights, mode);
          const sessionOptions: ort.InferenceSession.SessionOptions = {
            executionProviders: [provider],
            graphOptimizationLevel: 'all',
            // Each session has its own intra-op thread pool. Within a run its worker spins between
            // parallel sections rather than sleeping: waking it by the operating system for each of
            // a block's small kernels (LayerNorm, attention, FastGelu) costs 20-60 us apiece, about
            // 1.5 ms of a 64-token GPT-2 small forward. At the end of a run it stops spinning, so that
            // a finished session's pool neither steals the cores from the next block's session nor
            // burns them while the engine is idle (test/engine/thread-pool-idle.test.ts).
            extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' } },
            // Errors only: ONNX's shape inference for the Attention operator gives its pattern
            // output a last dimension of 0 when the sequence length is not known statically, and
            // ONNX Runtime would warn of the mismatch on every run (the values are right; tested).
            logSeverityLevel: 3,
            ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
          };
          const modelPath = folder.wants(graph) ? folder.write(graph, l < nLayers ? `block${l}` : 'final') : null;
          sessions[l] = modelPath !== null
            ? await ort.InferenceSession.create(modelPath, sessionOptions)
            : await ort.InferenceSession.create(graph.model, { ...sessionOptions, externalData: graph.externalData.map((e) => ({ path: e.path, data: e.data })) });
          weightFeeds[l] = Object.fromEntries([...graph.weightFeeds].map(([name, w]) => [name, f32(w.data, w.dims)]));
        }
        const final = sessions.pop()!;
        return new InstrumentedModel(model.config, weights, provider, note, sessions, final, weightFeeds, folder.remove() ? null : folder);
      } catch (error) {
        await Promise.all(sessions.filter(Boolean).map((s) => s.release().catch(() => undefined)));
        folder.remove();
        if (provider === 'cpu') throw new EngineError('INTERNAL', `ONNX Runtime could not create the model: ${(error as Error).message}`);
        note = `The ${provider} execution provider failed to start (${(error as Error).message.split('\n')[0]}); using the CPU.`;
      }
    }
    throw new EngineError('DEVICE_UNAVAILABLE', 'No execution provider could run the model.');
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.blocks, this.final].map((s) => s.release()));
    this.leftoverFiles?.remove();
  }

  async forward(ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    const [result] = await this.run({
      ids,
      variants: [{}],
      hooks: options.hooks ?? ['logits'],
      ...(options.logitPositions ? { logitPositions: options.logitPositions } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }, options.onLayer, options.keepKeysValues ?? false);
    return result!;
  }

  async intervene(request: InterventionRequest): Promise<ForwardResult[]> {
    return this.run(request, undefined, request.keepKeysValues ?? false);
  }

  async runPacked(request: PackedRunRequest): Promise<PackedRunResult> {
    const started = performance.now();
    const { nLayers, dModel: D } = this.config;
    for (const ids of request.prompts) this.checkIds(ids);
    const scoreTokens = this.checkScoreTokens(request.scoreTokens);
    const layout = packedLayout(request, this.config);
    const { P } = layout;
    const noHooks = this.planHooks([]);

    // The prompts' embeddings, then at each layer the branches joining there, copied from their
    // prompt's rows (its resid_pre of that layer) before the call.
    let resid: Float32Array = new Float32Array(request.prompts.length * P * D);
    request.prompts.forEach((ids, i) => resid.set(this.embed(ids, 0, noHooks, []), i * P * D));
    for (let layer = 0; layer < nLayers; layer++) {
      throwIfCancelled(request.signal);
      const N = rowsAt(layout, layer);
      if (N * D > resid.length) {
        const grown = new Float32Array(N * D);
        grown.set(resid);
        for (const { branch, row } of layout.branches) {
          if (branch.layer === layer) grown.set(resid.subarray((branch.prompt * P + branch.from) * D, (branch.prompt + 1) * P * D), row * D);
        }
        resid = grown;
      }
      const routing = packedRouting(layout, layer);
      const mask = packedMask(layout, layer);
      const out = await this.blocks[layer]!.run({
        ...this.unpatched,
        resid_pre: f32(resid, [1, N, D]),
        attn_mask: f32(mask.mask, mask.dims),
        plain: flag(layout.mode !== 'prefix' && routing.to.length === 0),
        prefix_rows: int64([layout.mode === 'prefix' ? layout.nPrompts * P : 0]),
        z_route_from: indexTensor(routing.from, 3),
        z_route_to: indexTensor(routing.to, 3),
        ...this.weightFeeds[layer],
      }, ['resid_post']);
      resid = out['resid_post']!.data as Float32Array;
    }

    throwIfCancelled(request.signal);
    // The last position of every prompt, then of every branch in request order.
    const lastRows = [
      ...request.prompts.map((_, i) => i * P + P - 1),
      ...[...layout.branches].sort((a, b) => a.index - b.index).map(({ row, branch }) => row + P - 1 - branch.from),
    ];
    const out = await this.final.run({
      resid: f32(resid, [1, rowsAt(layout, nLayers - 1), D]),
      logit_pos: int64(lastRows),
      score: flag(true),
      score_tokens: int64(scoreTokens),
      ...this.weightFeeds[nLayers],
    }, ['token_logits', 'token_probs']);
    const logits = out['token_logits']!.data as Float32Array, probs = out['token_probs']!.data as Float32Array;
    const t = scoreTokens.length;
    const scores = lastRows.map((_, r): TokenScores => ({ logits: logits.slice(r * t, (r + 1) * t), probs: probs.slice(r * t, (r + 1) * t) }));
    return {
      prompts: scores.slice(0, request.prompts.length),
      branches: scores.slice(request.prompts.length),
      provider: this.provider,
      elapsedMs: performance.now() - started,
    };
  }

  private checkScoreTokens(tokens: readonly number[]): readonly number[] {
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.config.dVocab) throw new EngineError('BAD_ARGUMENT', `Scored token id ${t} is outside the vocabulary (0..${this.config.dVocab - 1}).`);
    }
    return tokens;
  }

  private checkIds(ids: readonly number[]): void {
    if (ids.length === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.', 'Select some text to analyse.');
    if (ids.length > this.config.nCtx) {
      throw new EngineError('PROMPT_TOO_LONG', `The prompt has ${ids.length} tokens; this model's context holds ${this.config.nCtx}.`, 'Shorten the prompt.');
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.config.dVocab) {
        throw new EngineError('BAD_ARGUMENT', `Token id ${id} is outside the vocabulary (0..${this.config.dVocab - 1}).`);
      }
    }
  }

  private planHooks(hooks: readonly HookName[] | 'all'): HookPlan {
    const names = hooks === 'all' ? allHookNames(this.config.nLayers) : hooks;
    const plan: HookPlan = { global: new Set(), layers: Array.from({ length: this.config.nLayers }, () => new Set<LayerHook>()) };
    for (const name of names) {
      const parsed = parseHookName(name, this.config.nLayers);
      if (!parsed) throw new EngineError('BAD_ARGUMENT', `"${name}" is not a hook point of this model.`, 'Use TransformerLens names such as blocks.0.attn.hook_pattern, or "all".');
      if (parsed.layer === null) plan.global.add(parsed.hook);
      else plan.layers[parsed.layer]!.add(parsed.hook);
    }
    return plan;
  }

  /**
   * Runs `variants.length` copies of the prompt as one batch, each with its own patches.
   * Returns one result per variant.
   */
  private async run(request: InterventionRequest, onLayer: ForwardOptions['onLayer'], keepKV: boolean): Promise<ForwardResult[]> {
    const started = performance.now();
    const { config } = this;
    const { dModel: D, nLayers } = config;
    const ids = request.ids;
    this.checkIds(ids);
    const B = request.variants.length;
    if (B === 0) return [];
    const P = ids.length;
    const plan = this.planHooks(request.hooks ?? ['logits']);
    const q0 = request.queryFrom ?? 0;
    if (q0 < 0 || q0 >= P) throw new EngineError('BAD_ARGUMENT', `queryFrom ${q0} must be within the prompt (0..${P - 1}).`);
    if (q0 > 0 && (!request.past || request.past.length < nLayers)) throw new EngineError('BAD_ARGUMENT', 'queryFrom needs the cached keys and values of every layer (past).');
    const Q = P - q0; // query positions run
    const caches: ActivationCache[] = Array.from({ length: B }, () => new Map());
    // With keepKV: per variant, per layer, its keys and values of every position.
    const keysValues: KeysValues[][] = Array.from({ length: B }, () => []);

    // Where each variant starts, and the residual stream it starts from ([q, d_model] rows).
    const starts = request.variants.map((v) => v.startLayer ?? request.startLayer ?? 0);
    for (const s0 of starts) {
      if (!Number.isInteger(s0) || s0 < 0 || s0 > nLayers) throw new EngineError('BAD_ARGUMENT', `startLayer ${s0} is outside 0..${nLayers}.`);
    }
    if (keepKV && starts.some((s0) => s0 !== 0)) throw new EngineError('BAD_ARGUMENT', 'keepKeysValues needs every variant to start at layer 0.');
    const promptOf = (b: number): readonly number[] => request.variants[b]!.ids ?? ids;
    request.variants.forEach((variant, b) => {
      if (!variant.ids) return;
      this.checkIds(variant.ids);
      if (variant.ids.length !== P) throw new EngineError('BAD_ARGUMENT', `A variant's own prompt has ${variant.ids.length} tokens; the request's has ${P}.`, 'Variants of one batch run prompts of the same length.');
      if (starts[b] !== 0 || variant.startResid || request.startResid) throw new EngineError('BAD_ARGUMENT', "A variant's own prompt starts from its embeddings: no startLayer or startResid.");
      for (let p = 0; p < q0; p++) {
        if (variant.ids[p] !== ids[p]) throw new EngineError('BAD_ARGUMENT', `A variant's own prompt differs from the request's at position ${p}, before queryFrom ${q0}, where the cached keys and values are the request's.`);
      }
    });
    // Embedding rows per distinct prompt, recording hook_embed / hook_pos_embed for its variants.
    const embedded = new Map<readonly number[], Float32Array>();
    const initialRows = (b: number): Float32Array => {
      const own = request.variants[b]!.startResid ?? request.startResid;
      if (own) {
        if (own.data.length !== P * D) throw new EngineError('BAD_ARGUMENT', `startResid must be [${P}, ${D}].`);
        return own.data.subarray(q0 * D);
      }
      if (starts[b] !== 0) throw new EngineError('BAD_ARGUMENT', 'A start layer above 0 needs startResid.');
      const prompt = promptOf(b);
      let rows = embedded.get(prompt);
      if (!rows) {
        const recordIn = caches.filter((_, v) => starts[v] === 0 && promptOf(v) === prompt && !(request.variants[v]!.startResid ?? request.startResid));
        rows = this.embed(prompt, q0, plan, recordIn);
        embedded.set(prompt, rows);
      }
      return rows;
    };

    // Additive causal mask [q, P]: query i (absolute q0 + i) sees keys 0..q0 + i.
    const mask = new Float32Array(Q * P);
    for (let i = 0; i < Q; i++) for (let j = q0 + i + 1; j < P; j++) mask[i * P + j] = MASKED;
    const maskTensor = f32(mask, [Q, P]);

    // The batch is a wavefront: a variant joins at its start layer, so variants that start at
    // different layers share every layer's weights in one call. `active` lists the batch's rows.
    let active: number[] = [];
    let resid: Float32Array = new Float32Array(0);
    const join = (layer: number): void => {
      const joiners = starts.flatMap((s0, b) => (s0 === layer ? [b] : []));
      if (joiners.length === 0) return;
      const grown = new Float32Array((active.length + joiners.length) * Q * D);
      grown.set(resid);
      joiners.forEach((b, k) => grown.set(initialRows(b), (active.length + k) * Q * D));
      resid = grown;
      active = [...active, ...joiners];
    };
    const first = Math.min(...starts);
    for (let layer = first; layer < nLayers; layer++) {
      throwIfCancelled(request.signal);
      join(layer);
      const rows = active.map((b) => caches[b]!);
      const variants = active.map((b) => request.variants[b]!);
      resid = applyResidPatches(resid, variants, layer, q0, Q, D);
      const wanted = plan.layers[layer]!;
      // Views, not copies: `resid` is this run's own array (the joined batch, a patched copy or the
      // previous block's output), never the caller's, and nothing writes to it afterwards. So
      // hook_resid_pre of layer L and hook_resid_post of L - 1 share their values, as in PyTorch.
      if (wanted.has('hook_resid_pre')) splitBatch(resid, [Q, D], rows, `blocks.${layer}.hook_resid_pre`);

      const feeds = this.blockFeeds({ ...request, variants }, layer, resid, maskTensor, active.length, q0, Q);
      const fetches = new Set<BlockOutput>(['resid_post']);
      for (const hook of wanted) if (hook !== 'hook_resid_pre') fetches.add(LAYER_HOOK_OUTPUT[hook]);
      if (keepKV) { fetches.add('k'); fetches.add('v'); }
      const out = await this.blocks[layer]!.run({ ...feeds, ...this.weightFeeds[layer] }, [...fetches]);

      for (const hook of wanted) {
        if (hook === 'hook_resid_pre') continue;
        const t = out[LAYER_HOOK_OUTPUT[hook]]!;
        const shape = t.dims.slice(1) as number[];
        splitBatch(t.data as Float32Array, shape, rows, `blocks.${layer}.${hook}`);
      }
      if (keepKV) {
        active.forEach((b, row) => keysValues[b]!.push(variantKeysValues(out['k']!.data as Float32Array, out['v']!.data as Float32Array, row, request.past?.[layer], this.config, q0, Q)));
      }
      resid = out['resid_post']!.data as Float32Array;
      if (onLayer) onLayer(layer, rows[0]!);
    }
    join(nLayers);

    const scoreTokens = this.checkScoreTokens(request.scoreTokens ?? []);
    const scores: Array<TokenScores | undefined> = new Array(B);
    if (plan.global.has('logits') || plan.global.has('ln_final.hook_scale') || request.scoreTokens) {
      throwIfCancelled(request.signal);
      const rows = active.map((b) => caches[b]!);
      const positions = (request.logitPositions ?? Array.from({ length: Q }, (_, i) => q0 + i)).map((p) => p - q0);
      if (positions.some((p) => p < 0 || p >= Q)) throw new EngineError('BAD_ARGUMENT', 'logitPositions must be run positions of the prompt.');
      const fetches: string[] = [];
      if (plan.global.has('logits')) fetches.push('logits');
      if (plan.global.has('ln_final.hook_scale')) fetches.push('scale');
      if (request.scoreTokens) fetches.push('token_logits', 'token_probs');
      const out = await this.final.run({
        resid: f32(resid, [active.length, Q, D]),
        logit_pos: int64(positions),
        score: flag(request.scoreTokens !== undefined),
        score_tokens: int64(scoreTokens),
        ...this.weightFeeds[nLayers],
      }, fetches);
      if (out['logits']) splitBatch(out['logits'].data as Float32Array, [positions.length, config.dVocab], rows, 'logits');
      if (out['scale']) splitBatch(out['scale'].data as Float32Array, [Q, 1], rows, 'ln_final.hook_scale');
      if (request.scoreTokens) {
        const size = positions.length * scoreTokens.length;
        const logits = out['token_logits']!.data as Float32Array, probs = out['token_probs']!.data as Float32Array;
        active.forEach((b, row) => {
          scores[b] = { logits: logits.slice(row * size, (row + 1) * size), probs: probs.slice(row * size, (row + 1) * size) };
        });
      }
    }

    const elapsedMs = performance.now() - started;
    return caches.map((cache, b) => ({
      cache,
      provider: this.provider,
      elapsedMs,
      ...(keepKV ? { keysValues: keysValues[b]! } : {}),
      ...(scores[b] ? { tokenScores: scores[b] } : {}),
    }));
  }

  /**
   * The embedding rows [q, d_model] of positions q0.. (token + position embedding, gathered in
   * JavaScript), recording hook_embed / hook_pos_embed in `caches`.
   */
  private embed(ids: readonly number[], q0: number, plan: HookPlan, caches: readonly ActivationCache[]): Float32Array {
    const D = this.config.dModel, P = ids.length, Q = P - q0;
    const embed = new Float32Array(Q * D);
    const posEmbed = new Float32Array(Q * D);
    const WE = this.weights.W_E.data, Wpos = this.weights.W_pos.data;
    for (let p = q0; p < P; p++) {
      embed.set(WE.subarray(ids[p]! * D, (ids[p]! + 1) * D), (p - q0) * D);
      posEmbed.set(Wpos.subarray(p * D, (p + 1) * D), (p - q0) * D);
    }
    const resid0 = new Float32Array(Q * D);
    for (let i = 0; i < Q * D; i++) resid0[i] = embed[i]! + posEmbed[i]!;
    // Variants of one prompt share these arrays, as they share views of every batched output.
    caches.forEach((cache) => {
      if (plan.global.has('hook_embed')) cache.set('hook_embed', tensor(embed, [Q, D]));
      if (plan.global.has('hook_pos_embed')) cache.set('hook_pos_embed', tensor(posEmbed, [Q, D]));
    });
    return resid0;
  }

  private blockFeeds(request: InterventionRequest, layer: number, resid: Float32Array, mask: ort.Tensor, B: number, q0: number, Q: number): Record<string, ort.Tensor> {
    const { nHeads: H, dModel: D, dHead: Dh } = this.config;
    // Past keys/values [P_total, head, d_head] -> their first q0 positions, fed once for all variants.
    const past = q0 > 0 ? request.past![layer]! : null;
    const z = zPatchRows(request.variants, layer, H, q0, Q, Dh);
    const attn = streamPatchRows(request.variants, layer, 'hook_attn_out', q0, Q, D);
    const mlp = streamPatchRows(request.variants, layer, 'hook_mlp_out', q0, Q, D);
    return {
      ...this.unpatched,
      resid_pre: f32(resid, [B, Q, D]),
      ...(past ? { plain: flag(false), past_k: f32(past.k.subarray(0, q0 * H * Dh), [q0, H, Dh]), past_v: f32(past.v.subarray(0, q0 * H * Dh), [q0, H, Dh]) } : {}),
      attn_mask: mask,
      ...(z ? { z_index: indexTensor(z.index, 3), z_patch: f32(z.values, [z.index.length / 3, Dh]) } : {}),
      ...(attn ? { attn_index: indexTensor(attn.index, 2), attn_patch: f32(attn.values, [attn.index.length / 2, D]) } : {}),
      ...(mlp ? { mlp_index: indexTensor(mlp.index, 2), mlp_patch: f32(mlp.values, [mlp.index.length / 2, D]) } : {}),
    };
  }
}

/**
 * The block's inputs when nothing is cached, patched or routed: no past positions, empty patch and
 * routing lists, not packed.
 */
function unpatchedFeeds(config: ModelConfig): Record<string, ort.Tensor> {
  const { nHeads: H, dModel: D, dHead: Dh } = config;
  const none = (...dims: number[]): ort.Tensor => f32(new Float32Array(0), [0, ...dims]);
  return {
    past_k: none(H, Dh), past_v: none(H, Dh),
    plain: flag(true),
    prefix_rows: NOT_PACKED,
    z_index: indexTensor(NO_ROWS, 3), z_patch: none(Dh),
    z_route_from: indexTensor(NO_ROWS, 3), z_route_to: indexTensor(NO_ROWS, 3),
    attn_index: indexTensor(NO_ROWS, 2), attn_patch: none(D),
    mlp_index: indexTensor(NO_ROWS, 2), mlp_patch: none(D),
  };
}

const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, dims);
/** ONNX bool tensors hold one byte per element. */
const bool = (data: Uint8Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('bool', data, dims);
const int64 = (values: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
/** A scalar bool input. */
const flag = (on: boolean): ort.Tensor => bool(Uint8Array.of(on ? 1 : 0), []);

/** An empty row list, and prefix_rows of runs that are not packed. */
const NO_ROWS = new BigInt64Array(0);
const NOT_PACKED = new ort.Tensor('int64', new BigInt64Array(1), [1]);
/** Row indices for ScatterND / GatherND: `width` coordinates a row. */
const indexTensor = (index: BigInt64Array, width: number): ort.Tensor => new ort.Tensor('int64', index, [index.length / width, width]);

/**
 * One batch row's keys and values of every position, [P, head, d_head]: the cached first q0
 * positions, if any, then the positions run (block output [b, Q, head * d_head]).
 */
function variantKeysValues(k: Float32Array, v: Float32Array, row: number, past: KeysValues | undefined, config: ModelConfig, q0: number, Q: number): KeysValues {
  const width = config.nHeads * config.dHead;
  const join = (batch: Float32Array, cached: Float32Array | undefined): Float32Array => {
    const run = batch.subarray(row * Q * width, (row + 1) * Q * width);
    const out = new Float32Array((q0 + Q) * width);
    if (q0 > 0) out.set(cached!.subarray(0, q0 * width));
    out.set(run, q0 * width);
    return out;
  };
  return { k: join(k, past?.k), v: join(v, past?.v) };
}

/**
 * The weights the analyses read (AnalysisWeights), each in an array of its own: a tensor that is a
 * view into a larger buffer (a whole safetensors file) is copied, so that buffer can be freed.
 * Tensors that are one object (GPT-2's tied W_U_T and W_E) stay one object.
 */
function retainForAnalyses(weights: ModelWeights): AnalysisWeights {
  const copies = new Map<Tensor, Tensor>();
  const own = (t: Tensor): Tensor => {
    let copy = copies.get(t);
    if (!copy) {
      copy = t.data.byteLength === t.data.buffer.byteLength ? t : tensor(t.data.slice(), t.shape);
      copies.set(t, copy);
    }
    return copy;
  };
  const ln = (n: { w: Tensor; b: Tensor }): { w: Tensor; b: Tensor } => ({ w: own(n.w), b: own(n.b) });
  return {
    W_E: own(weights.W_E),
    W_pos: own(weights.W_pos),
    W_U_T: own(weights.W_U_T),
    b_U: own(weights.b_U),
    ln_final: ln(weights.ln_final),
    blocks: weights.blocks.map((b) => ({
      ln1: ln(b.ln1), W_V: own(b.W_V), b_V: own(b.b_V), W_O: own(b.W_O), b_O: own(b.b_O), b_out: own(b.b_out),
    })),
  };
}

/** Splits a batched [b, ...shape] array into each variant's cache, as views into it. */
function splitBatch(data: Float32Array, shape: readonly number[], caches: ActivationCache[], name: string): void {
  const size = shape.reduce((a, b) => a * b, 1);
  caches.forEach((cache, b) => {
    const part = data.subarray(b * size, (b + 1) * size);
    cache.set(name as HookName, tensor(part, shape));
  });
}

function selectedPositions(positions: readonly number[] | undefined, q0: number, Q: number): number[] {
  const all = positions ?? Array.from({ length: q0 + Q }, (_, i) => i);
  return all.filter((p) => p >= q0 && p < q0 + Q);
}

/** Patched rows of one layer: their coordinates ([k, width] int64, row-major) and values ([k, size]). */
interface PatchRows { index: BigInt64Array; values: Float32Array }

/**
 * Rows keyed by their coordinates, so that a row patched twice is written once with its last value
 * (ScatterND leaves the order of duplicate indices open).
 */
function collectRows(rows: Map<string, { at: number[]; value: Float32Array }>, size: number): PatchRows | null {
  if (rows.size === 0) return null;
  const width = rows.values().next().value!.at.length;
  const index = new BigInt64Array(rows.size * width);
  const values = new Float32Array(rows.size * size);
  [...rows.values()].forEach(({ at, value }, i) => {
    at.forEach((c, j) => { index[i * width + j] = BigInt(c); });
    values.set(value, i * size);
  });
  return { index, values };
}

/** hook_z patches of one layer as rows (variant, query row, head) of d_head values, or null if none. */
function zPatchRows(variants: readonly InterventionVariant[], layer: number, H: number, q0: number, Q: number, Dh: number): PatchRows | null {
  const rows = new Map<string, { at: number[]; value: Float32Array }>();
  variants.forEach((variant, b) => {
    for (const zp of variant.zPatches ?? []) {
      if (zp.layer !== layer) continue;
      if (zp.head < 0 || zp.head >= H) throw new EngineError('BAD_ARGUMENT', `Head ${zp.head} does not exist (0..${H - 1}).`);
      checkPatchShape(zp.value, q0 + Q, Dh, `z patch L${layer}H${zp.head}`);
      for (const p of selectedPositions(zp.positions, q0, Q)) {
        rows.set(`${b},${p},${zp.head}`, { at: [b, p - q0, zp.head], value: zp.value.data.subarray(p * Dh, (p + 1) * Dh) });
      }
    }
  });
  return collectRows(rows, Dh);
}

/** hook_attn_out or hook_mlp_out patches of one layer as rows (variant, query row) of d_model values, or null if none. */
function streamPatchRows(variants: readonly InterventionVariant[], layer: number, hook: 'hook_attn_out' | 'hook_mlp_out', q0: number, Q: number, D: number): PatchRows | null {
  const rows = new Map<string, { at: number[]; value: Float32Array }>();
  variants.forEach((variant, b) => {
    for (const sp of variant.streamPatches ?? []) {
      if (sp.layer !== layer || sp.hook !== hook) continue;
      checkPatchShape(sp.value, q0 + Q, D, `${hook} patch at layer ${layer}`);
      for (const p of selectedPositions(sp.positions, q0, Q)) {
        rows.set(`${b},${p}`, { at: [b, p - q0], value: sp.value.data.subarray(p * D, (p + 1) * D) });
      }
    }
  });
  return collectRows(rows, D);
}

/**
 * The batched residual stream [b, q, d_model] with `layer`'s resid_pre patches applied. Copies
 * before writing, because the input may be the previous layer's cached hook_resid_post.
 */
function applyResidPatches(resid: Float32Array, variants: readonly InterventionVariant[], layer: number, q0: number, Q: number, D: number): Float32Array {
  const patched = variants.some((v) => v.streamPatches?.some((sp) => sp.layer === layer && sp.hook === 'hook_resid_pre'));
  if (!patched) return resid;
  resid = resid.slice();
  variants.forEach((variant, b) => {
    for (const sp of variant.streamPatches ?? []) {
      if (sp.layer !== layer || sp.hook !== 'hook_resid_pre') continue;
      checkPatchShape(sp.value, q0 + Q, D, `resid_pre patch at layer ${layer}`);
      for (const p of selectedPositions(sp.positions, q0, Q)) resid.set(sp.value.data.subarray(p * D, (p + 1) * D), (b * Q + p - q0) * D);
    }
  });
  return resid;
}

function checkPatchShape(value: Tensor, P: number, width: number, what: string): void {
  if (value.data.length !== P * width) throw new EngineError('BAD_ARGUMENT', `${what}: expected [${P}, ${width}] values, got ${value.data.length}.`);
}
