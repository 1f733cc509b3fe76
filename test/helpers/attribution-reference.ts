/**
 * Attribution scores from a float64 reference's values and gradients (reference-*-backward.ts), combined
 * from the published definitions and shared by the attribution tests of GPT-2 and of the rotary families:
 * AtP's Σ (clean − corrupt) · grad, EAP's upstream difference · downstream input gradient over the edges of
 * EdgeGraph's naming (`embed`, `L3H1`, `mlp2`, `L4H0.q`, `L4KV1.k`, `logits`), and their comparisons.
 */
import assert from 'node:assert/strict';
import type { AttributionRequest, NodeScore } from '../../src/engine/attribution/attribution-types.js';
import type { ScoredEdge } from '../../src/protocol/circuit.js';
import type { ReferenceGradients } from './reference-gpt2-backward.js';

/**
 * Asserts that scores match within `tol` of the largest expected score, or of `floor` where that is larger;
 * without a floor the expected scores must not all be 0.
 */
export function assertScoresClose(actual: readonly number[], expected: readonly number[], label: string, tol: number, floor: number | null): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} scores, expected ${expected.length}`);
  const scale = Math.max(...expected.map(Math.abs));
  const diff = Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!)));
  if (floor === null) assert.ok(scale > 0, `${label}: every expected score is 0`);
  assert.ok(diff <= tol * Math.max(scale, floor ?? 0), `${label}: off by ${diff.toExponential(2)}, largest score ${scale.toExponential(2)}`);
}

/** Σ over rows of `width` of (clean − corrupt) · grad. */
export function dots(clean: Float64Array, corrupt: Float64Array, grad: Float64Array, width: number): number[] {
  return Array.from({ length: clean.length / width }, (_, r) => {
    let s = 0;
    for (let i = r * width; i < (r + 1) * width; i++) s += (clean[i]! - corrupt[i]!) * grad[i]!;
    return s;
  });
}

export function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const t = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / t);
}

/** AtP of every neuron, [layer * d_mlp]: Σ over positions of (clean − corrupt) · grad of mlp.hook_post [pos, d_mlp]. */
export function neuronAtp(clean: ReferenceGradients, corrupt: ReferenceGradients, gradients: ReferenceGradients, layers: number, positions: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < layers; l++) {
    const cl = clean.values.get(`blocks.${l}.mlp.hook_post`)!,
      co = corrupt.values.get(`blocks.${l}.mlp.hook_post`)!,
      g = gradients.gradients.get(`blocks.${l}.mlp.hook_post`)!;
    const M = cl.length / positions;
    for (let n = 0; n < M; n++) {
      let s = 0;
      for (let p = 0; p < positions; p++) s += (cl[p * M + n]! - co[p * M + n]!) * g[p * M + n]!;
      out.push(s);
    }
  }
  return out;
}

/** The upstream nodes that write to the residual stream before layer `layer` reads it: the embedding, earlier heads and MLPs, and optionally its own heads. */
export function writersBefore(layer: number, heads: number, ownHeads: boolean): string[] {
  const w = ['embed'];
  for (let l = 0; l < layer; l++) w.push(...Array.from({ length: heads }, (_, h) => `L${l}H${h}`), `mlp${l}`);
  if (ownHeads) w.push(...Array.from({ length: heads }, (_, h) => `L${layer}H${h}`));
  return w;
}

/** EAP of each edge `from>to`: the upstream node's output difference [pos, d_model] · the downstream node's input gradient. */
export function eapScores(
  upstream: Map<string, Float64Array>,
  downstreamGradient: (name: string) => Float64Array,
  edges: ReadonlyArray<readonly [string, string]>,
): Map<string, number> {
  const scores = new Map<string, number>();
  for (const [from, to] of edges) {
    const a = upstream.get(from)!,
      g = downstreamGradient(to);
    scores.set(
      `${from}>${to}`,
      a.reduce((s, x, i) => s + x * g[i]!, 0),
    );
  }
  return scores;
}

/**
 * A reference's gradient of a downstream node's input, [pos, d_model]: logits (final_resid), an MLP (hook_mlp_in),
 * or a query head's or a key/value head's q/k/v input (hook_{q,k,v}_input [pos, heads, d_model]).
 */
export function downstreamGradient(ref: ReferenceGradients, shape: { positions: number; dModel: number; heads: number; kvHeads: number }) {
  const { positions: P, dModel: D } = shape;
  return (name: string): Float64Array => {
    if (name === 'logits') return ref.gradients.get('final_resid')!;
    const mlp = /^mlp(\d+)$/.exec(name);
    if (mlp) return ref.gradients.get(`blocks.${mlp[1]}.hook_mlp_in`)!;
    const [, l, kind, h, which] = /^L(\d+)(H|KV)(\d+)\.([qkv])$/.exec(name)!;
    const heads = kind === 'H' ? shape.heads : shape.kvHeads;
    const all = ref.gradients.get(`blocks.${l}.hook_${which}_input`)!; // [pos, heads, d_model]
    const out = new Float64Array(P * D);
    for (let p = 0; p < P; p++) out.set(all.subarray((p * heads + Number(h)) * D, (p * heads + Number(h) + 1) * D), p * D);
    return out;
  };
}

/** Asserts that the engine's edges are exactly the expected ones, with their scores close (`close`, the test's tolerance). */
export function compareEdges(
  got: ScoredEdge[],
  expected: Map<string, number>,
  label: string,
  close: (actual: readonly number[], expected: readonly number[], label: string) => void,
): void {
  assert.equal(got.length, expected.size, `${label}: ${got.length} edges, the definition has ${expected.size}`);
  close(
    got.map((e) => e.score),
    got.map((e) => {
      const s = expected.get(`${e.from}>${e.to}`);
      assert.ok(s !== undefined, `${label}: unexpected edge ${e.from} → ${e.to}`);
      return s;
    }),
    label,
  );
}

/** AtP of a residual-stream point (hook_resid_pre, hook_attn_out, hook_mlp_out) per layer and position, [layer * pos]. */
export function streamAtp(
  clean: ReferenceGradients,
  corrupt: ReferenceGradients,
  gradients: ReferenceGradients,
  layers: number,
  dModel: number,
  hook: string,
): number[] {
  const at = (ref: Map<string, Float64Array>, l: number): Float64Array => ref.get(`blocks.${l}.${hook}`)!;
  return Array.from({ length: layers }, (_, l) => dots(at(clean.values, l), at(corrupt.values, l), at(gradients.gradients, l), dModel)).flat();
}

/** The residual-stream node kinds of AtP and their hook points. */
export const STREAM_KINDS = [
  ['resid', 'hook_resid_pre'],
  ['attn-out', 'hook_attn_out'],
  ['mlp-out', 'hook_mlp_out'],
] as const;

/** Asserts Σ over a head's outgoing edges of EAP = the head's AtP, within `tol` of the largest AtP score. */
export function assertEapSumsToAtp(edges: readonly ScoredEdge[], atp: readonly NodeScore[], tol: number): void {
  const scale = Math.max(...atp.map((e) => Math.abs(e.score)));
  for (const head of atp) {
    const name = `L${head.layer}H${head.head}`;
    const total = edges.filter((e) => e.from === name).reduce((s, e) => s + e.score, 0);
    assert.ok(Math.abs(total - head.score) <= tol * scale, `${name}: Σ EAP ${total} vs AtP ${head.score}`);
  }
}

/** The mean over `refs` (EAP-IG's interpolation steps) of each one's downstream input gradient, [pos, d_model]. */
export function averagedGradient(refs: readonly ReferenceGradients[], gradientOf: (ref: ReferenceGradients) => (name: string) => Float64Array, size: number) {
  return (name: string): Float64Array => {
    const sum = new Float64Array(size);
    for (const ref of refs) gradientOf(ref)(name).forEach((g, i) => (sum[i]! += g / refs.length));
    return sum;
  };
}

/**
 * Asserts the engine's AtP of resid_pre, attn_out and mlp_out (per layer and position) and of every neuron against
 * the reference's (`score(kind)` runs the engine's AtP of that kind; `close` the test's comparison); returns the
 * neurons' expected scores.
 */
export async function assertStreamAndNeuronAtp(
  score: (kind: AttributionRequest['kind']) => Promise<NodeScore[]>,
  clean: ReferenceGradients,
  corrupt: ReferenceGradients,
  shape: { layers: number; positions: number; dModel: number },
  close: (actual: readonly number[], expected: readonly number[], label: string) => void,
): Promise<number[]> {
  for (const [kind, hook] of STREAM_KINDS) {
    const got = await score(kind);
    close(
      got.map((e) => e.score),
      streamAtp(clean, corrupt, corrupt, shape.layers, shape.dModel, hook),
      `AtP ${kind}`,
    );
  }
  const neurons = await score('neurons');
  const expected = neuronAtp(clean, corrupt, corrupt, shape.layers, shape.positions);
  close(
    neurons.map((e) => e.score),
    expected,
    'AtP neurons',
  );
  return expected;
}
