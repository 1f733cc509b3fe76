/**
 * The replacement model's linearised backward on ONNX Runtime: one session per layer
 * (backward-graph.ts), weights as initializers, the prompt's frozen values fed on each run. A batch
 * of target nodes (rows) starts at the highest layer any of them reads, each row's encoder column
 * injected at its layer's input hook, and runs down to the embeddings; every source's direct effect
 * on every row of the batch is written into that row of the caller's edge matrix.
 */
import * as ort from 'onnxruntime-node';
import { throwIfCancelled } from '../../errors.js';
import type { ModelConfig } from '../../model/config.js';
import type { AnalysisWeights } from '../../model/weights.js';
import { f32 } from '../../runtime/ort-tensors.js';
import { sessionOptions } from '../../runtime/sessions.js';
import type { DictionaryLayer } from '../dictionary.js';
import { buildLinearLayerGraph } from './backward-graph.js';
import { encoderInputMap, inputHookKind } from './replacement-check.js';
import type { ReplacementModel } from './replacement.js';

/** One target row of a batch: the gradient injected at `layer`'s input hook (layer n_layers: the final residual stream) at `position`. */
export interface BackwardTarget {
  layer: number;
  position: number;
  /** [d_model] */
  vector: Float32Array;
}

/**
 * Column layout of an edge row, as circuit-tracer's: the active features, then the error nodes
 * (layer-major, [layer, pos]), then the token nodes; logit columns (always zero) are not stored.
 */
export function sourceColumns(replacement: Pick<ReplacementModel, 'features' | 'nPos' | 'layers'>): { errorStart: number; tokenStart: number; count: number } {
  const errorStart = replacement.features.count;
  const tokenStart = errorStart + replacement.layers.length * replacement.nPos;
  return { errorStart, tokenStart, count: tokenStart + replacement.nPos };
}

/** One layer's frozen values, laid out for the session: writes sorted by position, so that the writes of the first n positions are a prefix. */
interface LayerFeeds {
  frozen: ReplacementModel['layers'][number];
  /** [pos, d_model, slot] */
  decoder: Float32Array;
  pad: number;
  /** Per write in position order: pos * pad + slot, and the active feature it belongs to. */
  index: BigInt64Array;
  feature: Int32Array;
  /** Writes at positions below p, per p (0..pos). */
  before: Int32Array;
  /** Feeds by the number of positions run. */
  byLength: Map<number, Record<string, ort.Tensor>>;
}

/**
 * Per-layer sessions and the prompt's feeds. A batch runs only the positions up to its targets'
 * last one: attention is causal and everything else is per position, so no gradient reaches later
 * positions.
 */
export class LinearBackward {
  private layerFeeds: LayerFeeds[] = [];
  private replacement: ReplacementModel | null = null;

  private constructor(
    private readonly config: ModelConfig,
    private readonly sessions: ort.InferenceSession[],
  ) {}

  static async create(config: ModelConfig, weights: AnalysisWeights, dictionary: readonly DictionaryLayer[], threads?: number): Promise<LinearBackward> {
    const { nLayers: L, dModel: D, nHeads: H, dHead: Dh } = config;
    const sessions: ort.InferenceSession[] = [];
    try {
      for (let l = 0; l < L; l++) {
        const block = weights.blocks[l]!;
        const layer = dictionary[l]!;
        const built = buildLinearLayerGraph({
          layer: l,
          dModel: D,
          nHeads: H,
          nKvHeads: config.nKvHeads ?? H,
          dHead: Dh,
          centre: config.norm !== 'rmsnorm',
          ln1Weight: block.ln1.w.data,
          W_O: block.W_O.data,
          W_V: block.W_V.data,
          postAttentionWeight: block.ln1_post?.w.data ?? null,
          parallelResidual: config.parallelResidual === true,
          input: encoderInputMap(inputHookKind(layer, config), config, block.ln2.w.data, layer.processing),
          skip: layer.W_skip,
          tokens: l === 0,
        });
        sessions.push(
          await ort.InferenceSession.create(built.model, {
            ...sessionOptions('cpu', threads),
            // Batches differ in rows and positions: an arena would keep the largest batch's buffers of every layer's session.
            enableCpuMemArena: false,
            externalData: built.externalData.map((w) => ({ path: w.path, data: w.data })),
          }),
        );
      }
    } catch (error) {
      await Promise.all(sessions.map((s) => s.release()));
      throw error;
    }
    return new LinearBackward(config, sessions);
  }

  /** Sets the prompt whose frozen values the next batches use. */
  prepare(replacement: ReplacementModel): void {
    const P = replacement.nPos;
    const D = this.config.dModel;
    this.replacement = replacement;
    this.layerFeeds = replacement.layers.map((frozen) => {
      const { writes } = frozen;
      const m = writes.feature.length;
      const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => writes.position[a]! - writes.position[b]! || a - b);
      // Writes grouped by position, zero-padded to the fullest position: [pos, d_model, slot].
      const perPos = new Int32Array(P);
      for (let i = 0; i < m; i++) perPos[writes.position[i]!]!++;
      const pad = Math.max(1, ...perPos);
      const decoder = new Float32Array(P * D * pad);
      const index = new BigInt64Array(Math.max(1, m));
      const feature = new Int32Array(m);
      const before = new Int32Array(P + 1);
      const slot = new Int32Array(P);
      order.forEach((w, i) => {
        const p = writes.position[w]!;
        const j = slot[p]!++;
        for (let d = 0; d < D; d++) decoder[(p * D + d) * pad + j] = writes.vectors[w * D + d]!;
        index[i] = BigInt(p * pad + j);
        feature[i] = writes.feature[w]!;
      });
      for (let p = 0; p < P; p++) before[p + 1] = before[p]! + perPos[p]!;
      return { frozen, decoder, pad, index, feature, before, byLength: new Map() };
    });
  }

  /** Layer `l`'s feeds for the first `n` positions. */
  private feeds(l: number, n: number): Record<string, ort.Tensor> {
    const lf = this.layerFeeds[l]!;
    let feeds = lf.byLength.get(n);
    if (feeds) return feeds;
    const P = this.replacement!.nPos;
    const D = this.config.dModel;
    const H = this.config.nHeads;
    const { frozen, pad } = lf;
    const patternT = new Float32Array(H * n * n); // [head, key, query] of the first n positions
    for (let h = 0; h < H; h++) for (let k = 0; k < n; k++) patternT.set(frozen.patternT.subarray((h * P + k) * P, (h * P + k) * P + n), (h * n + k) * n);
    const m = lf.before[n]!;
    feeds = {
      pattern_t: f32(patternT, [H, n, n]),
      inv_s1: f32(frozen.invScale1.subarray(0, n), [n, 1]),
      errors: f32(frozen.errors.subarray(0, n * D), [n, D]),
      decoder: f32(lf.decoder.subarray(0, n * D * pad), [n, D, pad]),
      decoder_index: new ort.Tensor('int64', m > 0 ? lf.index.subarray(0, m) : new BigInt64Array(1), [Math.max(1, m)]),
    };
    const names = this.sessions[l]!.inputNames;
    if (names.includes('inv_s2')) feeds['inv_s2'] = f32(frozen.invScale2.subarray(0, n), [n, 1]);
    if (names.includes('inv_s_post1')) feeds['inv_s_post1'] = f32(frozen.invScalePost1!.subarray(0, n), [n, 1]);
    if (names.includes('embed')) feeds['embed'] = f32(this.replacement!.tokenVectors.subarray(0, n * D), [n, D]);
    lf.byLength.set(n, feeds);
    return feeds;
  }

  /**
   * Runs one batch: row r of `out` (from `rowOffset`, `columns` wide) receives target r's direct
   * effect from every source (see sourceColumns), overwriting what was there.
   */
  async run(targets: readonly BackwardTarget[], out: Float32Array, rowOffset: number, columns: number, signal?: AbortSignal): Promise<void> {
    const replacement = this.replacement;
    if (!replacement) throw new Error('LinearBackward.run before prepare');
    const B = targets.length;
    const P = replacement.nPos;
    const D = this.config.dModel;
    const L = this.config.nLayers;
    const { errorStart, tokenStart } = sourceColumns(replacement);
    out.fill(0, rowOffset * columns, (rowOffset + B) * columns);
    const top = Math.min(L - 1, Math.max(...targets.map((t) => t.layer)));
    const n = Math.max(...targets.map((t) => t.position)) + 1; // positions run
    let grad: Float32Array = new Float32Array(B * n * D);
    targets.forEach((t, b) => {
      if (t.layer >= L) grad.set(t.vector, (b * n + t.position) * D);
    });
    const inject = new Float32Array(B * n * D);
    for (let l = top; l >= 0; l--) {
      throwIfCancelled(signal);
      inject.fill(0);
      targets.forEach((t, b) => {
        if (t.layer === l) inject.set(t.vector, (b * n + t.position) * D);
      });
      const result = await this.sessions[l]!.run({ ...this.feeds(l, n), grad: f32(grad, [B, n, D]), inject: f32(inject, [B, n, D]) });
      const lf = this.layerFeeds[l]!;
      const m = lf.before[n]!;
      const fe = result['feature_effects']!.data as Float32Array; // [b, max(m, 1)]
      const width = fe.length / B;
      const ee = result['error_effects']!.data as Float32Array; // [b, n]
      for (let b = 0; b < B; b++) {
        const row = (rowOffset + b) * columns;
        // A cross-layer transcoder's feature writes to several layers: its effects add up.
        for (let i = 0; i < m; i++) out[row + lf.feature[i]!]! += fe[b * width + i]!;
        out.set(ee.subarray(b * n, (b + 1) * n), row + errorStart + l * P);
      }
      grad = result['grad_pre']!.data as Float32Array;
      if (l === 0) {
        const te = result['token_effects']!.data as Float32Array;
        for (let b = 0; b < B; b++) out.set(te.subarray(b * n, (b + 1) * n), (rowOffset + b) * columns + tokenStart);
      }
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
