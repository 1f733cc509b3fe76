/**
 * Steps the plain forward and the variant forward share: the causal masks, spreading a batched
 * block output over the variants' caches, the final (ln_final + unembedding) call, and a
 * variant's keys and values.
 */
import type * as ort from 'onnxruntime-node';
import { EngineError } from '../errors.js';
import type { ActivationCache, HookName } from '../hooks.js';
import { attentionWindowOf, type ModelConfig } from '../model/config.js';
import { MASKED } from '../onnx/gpt2-graphs.js';
import { tensor } from '../tensor.js';
import type { HookPlan } from './hook-plan.js';
import { f32, flag, int64 } from './ort-tensors.js';
import type { ModelSessions } from './sessions.js';
import type { KeysValues, TokenScores } from './types.js';

/**
 * Additive causal mask [q, P]: query i (absolute q0 + i) sees keys 0..q0 + i, or with a `window`
 * only the last `window` of them (keys j with q0 + i - window < j, GPT-Neo's local attention).
 */
export function causalMask(P: number, q0: number, window: number | null = null): ort.Tensor {
  const Q = P - q0;
  const mask = new Float32Array(Q * P);
  for (let i = 0; i < Q; i++) {
    const query = q0 + i;
    const firstSeen = window === null ? 0 : Math.max(0, query - window + 1);
    mask.fill(MASKED, i * P, i * P + firstSeen);
    mask.fill(MASKED, i * P + query + 1, (i + 1) * P);
  }
  return f32(mask, [Q, P]);
}

/**
 * Each layer's mask [q, P] (see causalMask), one tensor per distinct window: every layer of a
 * GPT-2 shares one, and a window that reaches the first position is no window.
 */
export function layerMasks(config: Pick<ModelConfig, 'nLayers' | 'attentionWindow'>, P: number, q0: number): ort.Tensor[] {
  const byWindow = new Map<number | null, ort.Tensor>();
  return Array.from({ length: config.nLayers }, (_, layer) => {
    const own = attentionWindowOf(config, layer);
    const window = own !== null && own < P ? own : null;
    let mask = byWindow.get(window);
    if (!mask) byWindow.set(window, (mask = causalMask(P, q0, window)));
    return mask;
  });
}

/** Splits a batched [b, ...shape] array into each variant's cache, as views into it. */
export function splitBatch(data: Float32Array, shape: readonly number[], caches: readonly ActivationCache[], name: HookName): void {
  const size = shape.reduce((a, b) => a * b, 1);
  caches.forEach((cache, b) => cache.set(name, tensor(data.subarray(b * size, (b + 1) * size), shape)));
}

/** Records a block call's wanted outputs ([b, ...shape] each) in the batch rows' caches. */
export function recordBlockOutputs(out: ort.InferenceSession.OnnxValueMapType, wanted: HookPlan['outputs'][number], caches: readonly ActivationCache[]): void {
  for (const { name, output } of wanted) {
    const t = out[output]!;
    splitBatch(t.data as Float32Array, t.dims.slice(1), caches, name);
  }
}

/**
 * The final call on the batch's last residual stream `resid` [b, Q, d_model]: records logits and
 * ln_final.hook_scale as the plan wants, and returns each batch row's token scores when
 * `scoreTokens` is given. `logitPositions` are run positions (0..Q-1).
 */
export async function runFinal(
  s: ModelSessions,
  plan: HookPlan,
  resid: Float32Array,
  caches: readonly ActivationCache[],
  Q: number,
  logitPositions: readonly number[],
  scoreTokens: readonly number[] | undefined,
): Promise<TokenScores[] | null> {
  const { dModel: D, dVocab: V, nLayers } = s.config;
  if (logitPositions.some((p) => p < 0 || p >= Q)) throw new EngineError('BAD_ARGUMENT', 'logitPositions must be run positions of the prompt.');
  const fetches: string[] = [];
  if (plan.global.has('logits')) fetches.push('logits');
  if (plan.global.has('ln_final.hook_scale')) fetches.push('scale');
  if (scoreTokens) fetches.push('token_logits', 'token_probs');
  const out = await s.final.run(
    {
      resid: f32(resid, [caches.length, Q, D]),
      logit_pos: int64(logitPositions),
      score: flag(scoreTokens !== undefined),
      score_tokens: int64(scoreTokens ?? []),
      ...s.weightFeeds[nLayers],
    },
    fetches,
  );
  if (out['logits']) splitBatch(out['logits'].data as Float32Array, [logitPositions.length, V], caches, 'logits');
  if (out['scale']) splitBatch(out['scale'].data as Float32Array, [Q, 1], caches, 'ln_final.hook_scale');
  if (!scoreTokens) return null;
  const size = logitPositions.length * scoreTokens.length;
  const logits = out['token_logits']!.data as Float32Array,
    probs = out['token_probs']!.data as Float32Array;
  return caches.map((_, row) => ({ logits: logits.slice(row * size, (row + 1) * size), probs: probs.slice(row * size, (row + 1) * size) }));
}

/**
 * One batch row's keys and values of every position, [P, kv_head, d_head] (kv_head = head without
 * grouped-query attention): the cached first q0 positions, if any, then the positions run (block
 * output [b, Q, kv_head * d_head]).
 */
export function variantKeysValues(
  k: Float32Array,
  v: Float32Array,
  row: number,
  past: KeysValues | undefined,
  config: Pick<ModelConfig, 'nHeads' | 'nKvHeads' | 'dHead'>,
  q0: number,
  Q: number,
): KeysValues {
  const width = (config.nKvHeads ?? config.nHeads) * config.dHead;
  const join = (batch: Float32Array, cached: Float32Array | undefined): Float32Array => {
    const run = batch.subarray(row * Q * width, (row + 1) * Q * width);
    const out = new Float32Array((q0 + Q) * width);
    if (q0 > 0) out.set(cached!.subarray(0, q0 * width));
    out.set(run, q0 * width);
    return out;
  };
  return { k: join(k, past?.k), v: join(v, past?.v) };
}
