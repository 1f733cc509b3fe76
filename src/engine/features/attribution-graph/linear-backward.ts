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

/** Per-layer sessions and the prompt's feeds. */
export class LinearBackward {
  private feeds: Array<Record<string, ort.Tensor>> = [];
  private writeCount: number[] = [];
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
          input: encoderInputMap(inputHookKind(layer, config), config, block.ln2.w.data),
          skip: layer.W_skip,
          tokens: l === 0,
        });
        sessions.push(
          await ort.InferenceSession.create(built.model, {
            ...sessionOptions('cpu', threads),
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
    const H = this.config.nHeads;
    this.replacement = replacement;
    this.writeCount = [];
    this.feeds = replacement.layers.map((frozen, l) => {
      const { writes } = frozen;
      const m = writes.feature.length;
      // Writes grouped by position, zero-padded to the fullest position: [pos, d_model, slot].
      const perPos = new Int32Array(P);
      for (let i = 0; i < m; i++) perPos[writes.position[i]!]!++;
      const pad = Math.max(1, ...perPos);
      const decoder = new Float32Array(P * D * pad);
      const index = new BigInt64Array(Math.max(1, m));
      const slot = new Int32Array(P);
      for (let i = 0; i < m; i++) {
        const p = writes.position[i]!;
        const j = slot[p]!++;
        for (let d = 0; d < D; d++) decoder[(p * D + d) * pad + j] = writes.vectors[i * D + d]!;
        index[i] = BigInt(p * pad + j);
      }
      this.writeCount.push(m);
      const feeds: Record<string, ort.Tensor> = {
        pattern_t: f32(frozen.patternT, [H, P, P]),
        inv_s1: f32(frozen.invScale1, [P, 1]),
        errors: f32(frozen.errors, [P, D]),
        decoder: f32(decoder, [P, D, pad]),
        decoder_index: new ort.Tensor('int64', index, [index.length]),
      };
      const names = this.sessions[l]!.inputNames;
      if (names.includes('inv_s2')) feeds['inv_s2'] = f32(frozen.invScale2, [P, 1]);
      if (names.includes('inv_s_post1')) feeds['inv_s_post1'] = f32(frozen.invScalePost1!, [P, 1]);
      if (names.includes('embed')) feeds['embed'] = f32(replacement.tokenVectors, [P, D]);
      return feeds;
    });
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
    let grad: Float32Array = new Float32Array(B * P * D);
    targets.forEach((t, b) => {
      if (t.layer >= L) grad.set(t.vector, (b * P + t.position) * D);
    });
    const inject = new Float32Array(B * P * D);
    for (let l = top; l >= 0; l--) {
      throwIfCancelled(signal);
      inject.fill(0);
      targets.forEach((t, b) => {
        if (t.layer === l) inject.set(t.vector, (b * P + t.position) * D);
      });
      const result = await this.sessions[l]!.run({ ...this.feeds[l]!, grad: f32(grad, [B, P, D]), inject: f32(inject, [B, P, D]) });
      const m = this.writeCount[l]!;
      const writes = replacement.layers[l]!.writes.feature;
      const fe = result['feature_effects']!.data as Float32Array; // [b, m or 1]
      const width = fe.length / B;
      const ee = result['error_effects']!.data as Float32Array; // [b, pos]
      for (let b = 0; b < B; b++) {
        const row = (rowOffset + b) * columns;
        // A cross-layer transcoder's feature writes to several layers: its effects add up.
        for (let i = 0; i < m; i++) out[row + writes[i]!]! += fe[b * width + i]!;
        out.set(ee.subarray(b * P, (b + 1) * P), row + errorStart + l * P);
      }
      grad = result['grad_pre']!.data as Float32Array;
      if (l === 0) {
        const te = result['token_effects']!.data as Float32Array;
        for (let b = 0; b < B; b++) out.set(te.subarray(b * P, (b + 1) * P), (rowOffset + b) * columns + tokenStart);
      }
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
