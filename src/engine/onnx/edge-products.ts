/**
 * The inputs and outputs every family's edge graph (a block's backward for edge attribution) shares:
 *   in   upstream         [n, p · d_model]   the upstream nodes' output differences that can feed the block
 *   out  grad_resid_pre   [b, p, d_model]
 *        edge_qkv         [n, S]             Σ_b upstream · the gradient of each reader slot's input
 *        edge_mlp         [n, 1]             Σ_b upstream · the gradient of the MLP's input
 * from the backward's split-input gradients summed over the batch rows (SplitInputs 'sum'), which never
 * leave the graph.
 */
import type { Tape } from './autodiff.js';

export interface EdgeGraphValues {
  /** Reader slots (head + 2 kv_head). */
  slots: number;
  dModel: number;
  /** The slots' input gradients summed over the rows, [S, 1, p, d_model]. */
  slotInputs: string;
  /** The MLP's input gradient, [b, p, d_model]. */
  mlpInput: string;
  /** resid_pre's gradient, [b, p, d_model]. */
  residPre: string;
}

export function addEdgeGraphOutputs(t: Tape, v: EdgeGraphValues): void {
  const g = t.g;
  const upstream = g.input('upstream', 'float', ['n', 'pd']);
  g.output(g.op1('Identity', [v.residPre], {}, 'grad_resid_pre'), 'float', ['b', 'p', v.dModel]);
  const rowsOf = (x: string, rows: number): string => g.op1('Reshape', [x, g.constInt64([rows, -1])]);
  g.op1('Gemm', [upstream, rowsOf(v.slotInputs, v.slots)], { transB: 1 }, 'edge_qkv');
  g.output('edge_qkv', 'float', ['n', v.slots]);
  const mlpInput = g.op1('ReduceSum', [v.mlpInput, g.constInt64([0])], { keepdims: 1 });
  g.op1('Gemm', [upstream, rowsOf(mlpInput, 1)], { transB: 1 }, 'edge_mlp');
  g.output('edge_mlp', 'float', ['n', 1]);
}
