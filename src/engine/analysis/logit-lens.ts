/**
 * The logit lens: what the model would predict if the residual stream at each depth went straight
 * to the unembedding. Depths are resid_pre 0 … resid_pre L−1, then resid_post L−1 (the final
 * residual stream). At each depth ln_final is applied with its mean and scale RECOMPUTED from that
 * depth's residual vector — reusing the final `ln_final.hook_scale` (TransformerLens's
 * `apply_ln_to_stack` with the cached scale) would mis-scale every earlier layer — then W_U and
 * b_U. The last depth therefore reproduces the model's own logits.
 */
import type { LensLayer, LogitLens, Prediction } from '../../protocol/analysis.js';
import { EngineError } from '../errors.js';
import { layerHook, type ActivationCache, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { ModelWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { requireHook } from './circuit-trace.js';
import { applyLayerNorm } from './layer-norm.js';
import { topPredictions } from './predictions.js';
import { logSumExp } from './softmax.js';
import { rankOf } from './top-k.js';
import { unembed } from './unembed.js';

export interface LogitLensInput {
  cache: ActivationCache;
  config: ModelConfig;
  weights: ModelWeights;
  position: number;
  targetId: number;
  topK: number;
  /** Also the top-1 guess at every position and depth. */
  perPosition: boolean;
  tokenText: (id: number) => string;
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

/** Logits [vocab] (float64) of the residual vector at `positions` of one depth, ln_final recomputed per vector. */
export function lensLogits(resid: Tensor /* [pos, d_model] */, positions: readonly number[], config: ModelConfig, weights: ModelWeights): Float64Array[] {
  const { dModel } = config;
  const normalised = positions.map((p) => applyLayerNorm(resid.data.subarray(p * dModel, (p + 1) * dModel), weights.ln_final, config.eps));
  return unembed(normalised, weights);
}

export function logitLens(input: LogitLensInput): LogitLens {
  const { cache, config, weights, position, targetId, topK, perPosition, tokenText } = input;
  const hooks = logitLensHooks(config.nLayers);
  const labels = logitLensLabels(config.nLayers);
  const nPos = requireHook(cache, hooks[0]!).shape[0] ?? 0;
  if (!Number.isInteger(position) || position < 0 || position >= nPos) throw new EngineError('BAD_ARGUMENT', `Position ${position} is outside the prompt (0..${nPos - 1}).`);
  if (!Number.isInteger(targetId) || targetId < 0 || targetId >= config.dVocab) throw new EngineError('BAD_ARGUMENT', `Token id ${targetId} is outside the vocabulary (0..${config.dVocab - 1}).`);
  const positions = perPosition ? Array.from({ length: nPos }, (_, p) => p) : [position];
  const layers: LensLayer[] = [];
  const perDepth: Prediction[][] | null = perPosition ? [] : null;
  hooks.forEach((hook, depth) => {
    const rows = lensLogits(requireHook(cache, hook), positions, config, weights);
    const traced = rows[perPosition ? position : 0]!;
    layers.push({
      label: labels[depth]!,
      top: topPredictions(traced, topK, tokenText),
      targetProb: Math.exp(traced[targetId]! - logSumExp(traced)),
      targetRank: rankOf(traced, targetId),
    });
    if (perDepth) perDepth.push(rows.map((row) => topPredictions(row, 1, tokenText)[0]!));
  });
  return { position, targetId, layers, perPosition: perDepth };
}
