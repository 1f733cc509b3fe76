/** The weights the engine keeps for the analyses once ONNX Runtime holds its own copy of the rest. */
import type { AnalysisWeights, ModelWeights } from '../model/weights.js';
import { tensor, type Tensor } from '../tensor.js';

/**
 * The weights the analyses read (AnalysisWeights), each in an array of its own: a tensor that is a
 * view into a larger buffer (a whole safetensors file) is copied, so that buffer can be freed.
 * Tensors that are one object (GPT-2's tied W_U_T and W_E) stay one object.
 */
export function retainForAnalyses(weights: ModelWeights): AnalysisWeights {
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
    ...(weights.embedScale !== undefined ? { embedScale: weights.embedScale } : {}),
    blocks: weights.blocks.map((b) => ({
      ln1: ln(b.ln1),
      W_V: own(b.W_V),
      b_V: own(b.b_V),
      W_O: own(b.W_O),
      b_O: own(b.b_O),
      // The MLP's norm: sparse dictionaries read its input (ln2.hook_normalized, mlp.hook_in) computed on the host.
      ln2: ln(b.ln2),
      b_out: own(b.b_out),
      ...(b.ln1_post ? { ln1_post: ln(b.ln1_post) } : {}),
    })),
  };
}
