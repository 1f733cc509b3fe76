/**
 * ONNX graphs of a block whose readers each read their own copy of the residual stream: every
 * head's query, key and value projections and the MLP (TransformerLens's split q/k/v and MLP inputs).
 * Edge-level patching (circuits/edge-patcher.ts) feeds each reader the clean or corrupted writers
 * it is allowed to see, so these graphs take the readers' inputs rather than one resid_pre, and
 * hand back each head's own output z_h · W_O[h] rather than their sum.
 *
 * Attention graph (b = batch of variants, q = positions; every position is run, no cache):
 *   in   split_in   [b, slot, q, d_model]   slot: query heads 0..H-1, then key heads, then value heads
 *                                           (key/value heads: H_kv of them with grouped-query attention)
 *        attn_mask  [q, q]                  additive causal mask (with the layer's window, if any)
 *   out  result     [b, head, q, d_model]   z_h · W_O[h], without b_O
 * MLP graph:
 *   in   mlp_in     [b, q, d_model]
 *   out  mlp_out    [b, q, d_model]         hook_mlp_out
 * The normalisations, projections, rotations and activations are the block graphs' own
 * (gpt2-graphs.ts, llama-graphs.ts, neox-graphs.ts), so a variant that feeds every reader the same
 * residual stream runs the block. GPT-NeoX's parallel residual is the caller's: its MLP input is then
 * resid_pre's readers' stream, not resid_mid's.
 */
import { attentionScoreScale, graphFamily, type ModelConfig } from '../model/config.js';
import type { BlockWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { EngineError } from '../errors.js';
import { activation, layerNorm } from './gpt2-graphs.js';
import { GraphBuilder, type BuiltGraph, type WeightMode } from './graph-builder.js';
import { rmsNorm, ropeTables, rotate } from './llama-graphs.js';
import { neoxRopeTables, rotatePartial } from './neox-graphs.js';

/** The readers of a layer's attention: query heads, then key heads, then value heads. */
export function attentionSlots(config: Pick<ModelConfig, 'nHeads' | 'nKvHeads'>): { H: number; Hkv: number; slots: number } {
  const H = config.nHeads;
  const Hkv = config.nKvHeads ?? H;
  return { H, Hkv, slots: H + 2 * Hkv };
}

/**
 * Refuses the models whose heads have no output of their own in the residual stream: Gemma's
 * post-attention norm rescales the sum of a layer's heads by that sum's size, so a head's share of
 * what is added depends on every other head, and an edge from one head is not defined.
 */
export function assertSplitInputSupported(config: ModelConfig): void {
  if (graphFamily(config) === 'gemma') {
    throw new EngineError(
      'UNSUPPORTED_ARCHITECTURE',
      `${config.modelType} models have no edges between heads: the post-attention norm rescales the sum of a layer's heads, so no head writes a share of its own to the residual stream.`,
      'Edge attribution, edge patching and circuit discovery run on GPT-2, GPT-Neo, Llama, Mistral, Qwen2, Qwen3 and GPT-NeoX (Pythia) models; node-level activation patching and attribution patching (AtP, AtP*) run on Gemma.',
    );
  }
}

export function buildSplitAttentionGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  assertSplitInputSupported(config);
  const g = new GraphBuilder(`split_attn${layer}`, mode);
  const { dModel: D, dHead: Dh, eps } = config;
  const { H, Hkv, slots: S } = attentionSlots(config);
  const family = graphFamily(config);
  const rms = family === 'llama';
  const input = g.input('split_in', 'float', ['b', S, 'q', D]);
  const mask = g.input('attn_mask', 'float', ['q', 'q']);

  // Each slot's normalisation, then its own head's projection: [b, slot, q, d_model] @ [slot, d_model, d_head].
  const normed = rms ? rmsNorm(g, input, g.weight('ln1_w', w.ln1.w.data, [D]), eps) : layerNorm(g, input, w.ln1.w.data, w.ln1.b.data, D, eps, 'ln1');
  let projected = g.op1('MatMul', [normed, g.weight('W_slots', concatRows([w.W_Q, w.W_K, w.W_V]), [S, D, Dh])]); // [b, slot, q, d_head]
  if (family === 'gpt2' || config.qkvBias) projected = g.op1('Add', [projected, g.weight('b_slots', concatRows([w.b_Q, w.b_K, w.b_V]), [S, 1, Dh])]);
  const [q0, k0, v] = g.op('Split', [projected, g.constInt64([H, Hkv, Hkv])], { axis: 1 }, 3) as [string, string, string];
  let q = q0,
    k = k0;
  if (config.qkNorm) {
    q = rmsNorm(g, q, g.weight('q_norm', w.q_norm!.data, [Dh]), eps);
    k = rmsNorm(g, k, g.weight('k_norm', w.k_norm!.data, [Dh]), eps);
  }
  if (config.positional === 'rotary') {
    // The tables are [q, 1, rotary dims] for the [b, q, head, d_head] layout; here heads come before positions.
    const R = config.rotaryDims ?? Dh;
    const tables = rms ? ropeTables(g, config, mask) : neoxRopeTables(g, config, R, mask);
    const byPosition = (t: string): string => g.op1('Squeeze', [t, g.constInt64([1])]); // [q, rotary dims]
    const cos = byPosition(tables.cos),
      sin = byPosition(tables.sin);
    const turn = (x: string, name: string): string => (rms ? rotate(g, x, cos, sin, Dh, g.fresh(name)) : rotatePartial(g, x, cos, sin, R, Dh, g.fresh(name)));
    q = turn(q, 'rot_q');
    k = turn(k, 'rot_k');
  }
  // Query head h reads key/value head floor(h / group), as HF's repeat_kv lays them out.
  const group = H / Hkv;
  const perQueryHead = (x: string): string =>
    group === 1
      ? x
      : g.op1('Reshape', [g.op1('Expand', [g.op1('Unsqueeze', [x, g.constInt64([2])]), g.constInt64([1, 1, group, 1, 1])]), g.constInt64([0, H, -1, Dh])]);
  const keys = g.op1('Transpose', [perQueryHead(k)], { perm: [0, 1, 3, 2] }); // [b, head, d_head, q]
  const scale = g.constFloat([attentionScoreScale(config, layer)], []);
  const scores = g.op1('Add', [g.op1('Mul', [g.op1('MatMul', [q, keys]), scale]), mask]); // [b, head, q, q]
  const pattern = g.op1('Softmax', [scores], { axis: -1 });
  const z = g.op1('MatMul', [pattern, perQueryHead(v)]); // [b, head, q, d_head]
  g.op1('MatMul', [z, g.weight('W_O', w.W_O.data, [H, Dh, D])], {}, 'result'); // [b, head, q, d_model]
  g.output('result', 'float', ['b', H, 'q', D]);
  return g.build();
}

export function buildSplitMlpGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  assertSplitInputSupported(config);
  const g = new GraphBuilder(`split_mlp${layer}`, mode);
  const { dModel: D, dMlp: M, eps } = config;
  const input = g.input('mlp_in', 'float', ['b', 'q', D]);
  if (graphFamily(config) === 'llama') {
    const x = rmsNorm(g, input, g.weight('ln2_w', w.ln2.w.data, [D]), eps);
    const gate = g.op1('MatMul', [x, g.weight('W_gate', w.W_gate!.data, [D, M])]);
    const up = g.op1('MatMul', [x, g.weight('W_in', w.W_in.data, [D, M])]);
    const post = g.op1('Mul', [g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]), up]);
    g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])], {}, 'mlp_out');
  } else {
    const x = layerNorm(g, input, w.ln2.w.data, w.ln2.b.data, D, eps, 'ln2');
    const post = activation(g, g.op1('MatMul', [x, g.weight('W_in', w.W_in.data, [D, M])]), g.weight('b_in', w.b_in.data, [M]), config.actFn);
    g.op1('Add', [g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])]), g.weight('b_out', w.b_out.data, [D])], {}, 'mlp_out');
  }
  g.output('mlp_out', 'float', ['b', 'q', D]);
  return g.build();
}

/** Tensors whose first axis counts heads, stacked along it: [sum of heads, ...rest]. */
function concatRows(parts: readonly Tensor[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of parts) {
    out.set(t.data, offset);
    offset += t.data.length;
  }
  return out;
}
