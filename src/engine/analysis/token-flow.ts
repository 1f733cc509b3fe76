/**
 * Token flow: how much attention flows from each query token to each key token, summed over every
 * head (and every layer, or per layer), for the arc diagram.
 */
import type { TokenFlow } from '../../protocol/analysis.js';
import type { Tensor } from '../tensor.js';

/** Sums per-layer patterns [head, query, key] into [query, key] (and [layer, query, key] on request). */
export function tokenFlow(patterns: readonly Tensor[] /* per layer: [head, query, key] */, perLayer: boolean): TokenFlow {
  const first = patterns[0];
  const n = first?.shape[1] ?? 0;
  const total = new Float32Array(n * n);
  const layers = perLayer ? new Float32Array(patterns.length * n * n) : null;
  const sum = new Float64Array(n * n);
  patterns.forEach((pattern, l) => {
    const [nHeads, nq, nk] = pattern.shape;
    if (nHeads === undefined || nq !== n || nk !== n) throw new Error(`tokenFlow: layer ${l} pattern [${pattern.shape.join(', ')}] does not match ${n} tokens`);
    const layerSum = new Float64Array(n * n);
    for (let h = 0; h < nHeads; h++) {
      const base = h * n * n;
      for (let i = 0; i < n * n; i++) layerSum[i] = layerSum[i]! + pattern.data[base + i]!;
    }
    for (let i = 0; i < n * n; i++) sum[i] = sum[i]! + layerSum[i]!;
    if (layers) layers.set(layerSum, l * n * n);
  });
  total.set(sum);
  return { total, perLayer: layers };
}
