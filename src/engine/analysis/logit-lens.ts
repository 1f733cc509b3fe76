/**
 * The logit lens: what the model would predict if the residual stream at each depth went straight
 * to the unembedding. Depths are resid_pre 0 … resid_pre L−1, then resid_post L−1 (the final
 * residual stream). At each depth ln_final (the model's own: LayerNorm, or RMSNorm without
 * centring for the Llama family) is applied with its statistics RECOMPUTED from that
 * depth's residual vector — reusing the final `ln_final.hook_scale` (TransformerLens's
 * `apply_ln_to_stack` with the cached scale) would mis-scale every earlier layer — then W_U and
 * b_U (and the final logit soft-cap of a Gemma 2). The last depth therefore reproduces the model's own logits.
 */
import type { LensLayer, LogitLens, Prediction } from '../../protocol/analysis.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { layerHook, type ActivationCache, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights } from '../model/weights.js';
import { requireHook } from './circuit-trace.js';
import { jsLensUnembed, type LensUnembed } from './lens-unembed.js';
import { topPredictions } from './predictions.js';
import { logSumExp } from './softmax.js';
import { rankOf } from './top-k.js';

export interface LogitLensInput {
  cache: ActivationCache;
  config: ModelConfig;
  weights: AnalysisWeights;
  position: number;
  targetId: number;
  topK: number;
  /** Also the top-1 guess at every position and depth. */
  perPosition: boolean;
  tokenText: (id: number) => string;
  /** How vectors become logits (default: float64 JavaScript, jsLensUnembed). */
  unembed?: LensUnembed;
  signal?: AbortSignal;
}

/** Residual-stream hooks of every lens depth, in depth order. */
export function logitLensHooks(nLayers: number): HookName[] {
  const hooks: HookName[] = [];
  for (let l = 0; l < nLayers; l++) hooks.push(layerHook(l, 'hook_resid_pre'));
  hooks.push(layerHook(nLayers - 1, 'hook_resid_post'));
  return hooks;
}

export function logitLensLabels(nLayers: number): string[] {
  const labels: string[] = [];
  for (let l = 0; l < nLayers; l++) labels.push(`resid_pre ${l}`);
  labels.push(`resid_post ${nLayers - 1}`);
  return labels;
}

export async function logitLens(input: LogitLensInput): Promise<LogitLens> {
  const { cache, config, weights, position, targetId, topK, perPosition, tokenText, signal } = input;
  const unembedRows = input.unembed ?? jsLensUnembed(config, weights);
  const { dModel } = config;
  const hooks = logitLensHooks(config.nLayers);
  const labels = logitLensLabels(config.nLayers);
  const resids = hooks.map((hook) => requireHook(cache, hook).data); // per depth: [pos, d_model]
  const nPos = (resids[0]?.length ?? 0) / dModel;
  if (!Number.isInteger(position) || position < 0 || position >= nPos)
    throw new EngineError('BAD_ARGUMENT', `Position ${position} is outside the prompt (0..${nPos - 1}).`);
  if (!Number.isInteger(targetId) || targetId < 0 || targetId >= config.dVocab)
    throw new EngineError('BAD_ARGUMENT', `Token id ${targetId} is outside the vocabulary (0..${config.dVocab - 1}).`);

  const layerAt = (depth: number, row: ArrayLike<number>): LensLayer => ({
    label: labels[depth]!,
    top: topPredictions(row, topK, tokenText),
    targetProb: Math.exp(row[targetId]! - logSumExp(row)),
    targetRank: rankOf(row, targetId),
  });
  const layers: LensLayer[] = [];
  if (!perPosition) {
    // One batch: the traced position's vector at every depth.  [depth, d_model]
    const rows = new Float32Array(resids.length * dModel);
    resids.forEach((r, depth) => rows.set(r.subarray(position * dModel, (position + 1) * dModel), depth * dModel));
    const logits = await unembedRows(rows, resids.length, signal);
    logits.forEach((row, depth) => layers.push(layerAt(depth, row)));
    return { position, targetId, layers, perPosition: null };
  }
  // Depth by depth, every position (one depth's logits at a time bounds the memory).
  const perDepth: Prediction[][] = [];
  for (let depth = 0; depth < resids.length; depth++) {
    throwIfCancelled(signal);
    const logits = await unembedRows(resids[depth]!, nPos, signal);
    layers.push(layerAt(depth, logits[position]!));
    perDepth.push(logits.map((row) => topPredictions(row, 1, tokenText)[0]!));
  }
  return { position, targetId, layers, perPosition: perDepth };
}
