/**
 * Edge attribution's upstream rows in one graph: the output differences between batch rows 0
 * (clean) and 1 (corrupted) of every upstream node, in circuits/edge-graph.ts's upstream order
 * (the embedding, then per layer each head's z_h · W_O[h] and the MLP's output):
 *   in   embed       [1, p · d_model]          the input embeddings' difference
 *        z_L         [2, p, head, d_head]      per layer L, rows clean and corrupted
 *        mlp_out_L   [2, p, d_model]
 *   out  upstream    [1 + layer · (head + 1), p · d_model]
 * Each layer's W_O [head, d_head, d_model] is a weight (in 'inputs' mode the model's own array).
 */
import type { ModelConfig } from '../model/config.js';
import type { ModelWeights } from '../model/weights.js';
import { GraphBuilder, type BuiltGraph, type WeightMode } from './graph-builder.js';

export function buildOutputDifferenceGraph(config: ModelConfig, weights: Pick<ModelWeights, 'blocks'>, mode: WeightMode = 'inputs'): BuiltGraph {
  const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = config;
  const g = new GraphBuilder('output_differences', mode);
  const rows = [g.input('embed', 'float', [1, 'pd'])];
  const [first, second] = [g.constInt64([0], []), g.constInt64([1], [])];
  const difference = (x: string): string => g.op1('Sub', [g.op1('Gather', [x, first], { axis: 0 }), g.op1('Gather', [x, second], { axis: 0 })]);
  for (let l = 0; l < L; l++) {
    const z = g.input(`z_${l}`, 'float', [2, 'p', H, Dh]);
    const dz = g.op1('Transpose', [difference(z)], { perm: [1, 0, 2] }); // [head, p, d_head]
    const heads = g.op1('MatMul', [dz, g.weight(`W_O_${l}`, weights.blocks[l]!.W_O.data, [H, Dh, D])]); // [head, p, d_model]
    rows.push(g.op1('Reshape', [heads, g.constInt64([H, -1])]));
    rows.push(g.op1('Reshape', [difference(g.input(`mlp_out_${l}`, 'float', [2, 'p', D])), g.constInt64([1, -1])]));
  }
  g.op1('Concat', rows, { axis: 0 }, 'upstream');
  g.output('upstream', 'float', [1 + L * (H + 1), 'pd']);
  return g.build();
}
