/**
 * One layer's node scores of attribution patching from the clean and corrupted activations and the
 * corrupted run's gradients (one batch row of each): AtP's Σ (a_clean − a_corrupt) · ∂m/∂a over the
 * site's elements, and AtP*'s heads as the QK-fixed query and key contributions plus the value's AtP.
 */
import { attentionScoreScale, attentionWindowOf, type ModelConfig } from '../model/config.js';
import type { GradientOutput } from '../runtime/gradient-model.js';
import type { AttributionKind, NodeScore } from './attribution-types.js';
import { qkFixContributions } from './qk-fix.js';

/** One batch row's values of a block's hook point (the rotary families' rot_q and rot_k among them). */
export type RowValues = (output: GradientOutput) => Float32Array;

export interface LayerScoreInput {
  config: ModelConfig;
  layer: number;
  positions: number;
  clean: RowValues;
  corrupt: RowValues;
  grad: RowValues;
  kind: Exclude<AttributionKind, 'edges'>;
  /** AtP*: heads through the QK fix. */
  qkFix: boolean;
  perPosition: boolean;
}

/** Σ over each run of `width` consecutive elements of (clean − corrupt) · grad: [rows]. */
export function deltaDots(clean: Float32Array, corrupt: Float32Array, grad: Float32Array, width: number): Float64Array {
  const out = new Float64Array(clean.length / width);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let i = r * width; i < (r + 1) * width; i++) s += (clean[i]! - corrupt[i]!) * grad[i]!;
    out[r] = s;
  }
  return out;
}

/** The layer's scores, in the order [head][position] (heads), [position] (components) or [neuron]. */
export function layerNodeScores(x: LayerScoreInput): NodeScore[] {
  const { layer, positions: P } = x;
  const { nHeads: H, dHead: Dh, dModel: D, dMlp: M } = x.config;
  const dots = (output: GradientOutput, width: number): Float64Array => deltaDots(x.clean(output), x.corrupt(output), x.grad(output), width);
  switch (x.kind) {
    case 'heads': {
      // [pos, head] per (position, head).
      const byPosHead = x.qkFix ? atpStarHeads(x) : dots('z', Dh);
      const entries: NodeScore[] = [];
      for (let h = 0; h < H; h++) {
        if (x.perPosition) for (let p = 0; p < P; p++) entries.push({ layer, head: h, position: p, score: byPosHead[p * H + h]! });
        else {
          let s = 0;
          for (let p = 0; p < P; p++) s += byPosHead[p * H + h]!;
          entries.push({ layer, head: h, score: s });
        }
      }
      return entries;
    }
    case 'resid':
    case 'attn-out':
    case 'mlp-out': {
      const output = x.kind === 'resid' ? 'resid_pre' : x.kind === 'attn-out' ? 'attn_out' : 'mlp_out';
      return Array.from(dots(output, D), (score, position) => ({ layer, position, score }));
    }
    case 'neurons': {
      const clean = x.clean('mlp_post'),
        corrupt = x.corrupt('mlp_post'),
        grad = x.grad('mlp_post');
      const sums = new Float64Array(M);
      for (let p = 0; p < P; p++) for (let n = 0; n < M; n++) sums[n]! += (clean[p * M + n]! - corrupt[p * M + n]!) * grad[p * M + n]!;
      return Array.from(sums, (score, neuron) => ({ layer, neuron, score }));
    }
  }
}

/**
 * AtP* per (position, head): the QK-fixed query and key contributions plus AtP on the values. The
 * scores read the queries and keys after RoPE (hook_rot_q, hook_rot_k) where the model has it.
 */
function atpStarHeads(x: LayerScoreInput): Float64Array {
  const { config, layer, positions: P } = x;
  const { nHeads: H, dHead: Dh } = config;
  const Hkv = config.nKvHeads ?? H;
  const window = attentionWindowOf(config, layer);
  const rotary = config.positional === 'rotary';
  const { query, key } = qkFixContributions({
    qClean: x.clean(rotary ? 'rot_q' : 'q'),
    kClean: x.clean(rotary ? 'rot_k' : 'k'),
    qCorrupt: x.corrupt(rotary ? 'rot_q' : 'q'),
    kCorrupt: x.corrupt(rotary ? 'rot_k' : 'k'),
    gradPattern: x.grad('pattern'),
    positions: P,
    heads: H,
    kvHeads: Hkv,
    dHead: Dh,
    scale: attentionScoreScale(config, layer),
    softcap: config.attnSoftcap ?? null,
    window: window !== null && window < P ? window : null,
  });
  const values = Hkv === H ? deltaDots(x.clean('v'), x.corrupt('v'), x.grad('v'), Dh) : groupedValueAtp(x, H, Hkv, Dh); // [pos, head]
  for (let p = 0; p < P; p++) for (let h = 0; h < H; h++) values[p * H + h]! += query[h * P + p]! + key[h * P + p]!;
  return values;
}

/**
 * AtP on the values through each query head under grouped-query attention, [pos, head]: a value is
 * shared by its group's heads, and head h's share of ∂m/∂v[j] is Σ_i A_h[i, j] ∂m/∂z_h[i], so
 * score(j, h) = Σ_e (v_clean − v_corrupt)[j, kv(h), e] · Σ_i A_h[i, j] ∂m/∂z[i, h, e] (summed over a
 * group's heads, the AtP of the key/value head's value).
 */
function groupedValueAtp(x: LayerScoreInput, H: number, Hkv: number, Dh: number): Float64Array {
  const P = x.positions;
  const vClean = x.clean('v'),
    vCorrupt = x.corrupt('v'); // [pos, kv_head, d_head]
  const pattern = x.corrupt('pattern'); // [head, query, key]
  const gradZ = x.grad('z'); // [pos, head, d_head]
  const out = new Float64Array(P * H);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / (H / Hkv));
    for (let j = 0; j < P; j++) {
      let s = 0;
      for (let e = 0; e < Dh; e++) {
        let g = 0;
        for (let i = j; i < P; i++) g += pattern[(h * P + i) * P + j]! * gradZ[(i * H + h) * Dh + e]!;
        s += (vClean[(j * Hkv + kh) * Dh + e]! - vCorrupt[(j * Hkv + kh) * Dh + e]!) * g;
      }
      out[j * H + h] = s;
    }
  }
  return out;
}
