/**
 * The target's softmax probability for a batch of logit rows, on ONNX Runtime.
 *
 * Why not JavaScript: the probability needs the whole vocabulary's partition function, one exp per
 * logit. A 144-head sweep of a GPT-2 is 144 × 50 257 exps, about 0.2 s with Math.exp on the 2-core
 * development machine, as much as the patched runs themselves; ONNX Runtime's vectorised Softmax
 * does the same in a few milliseconds. One small session (Softmax, then Gather of the target
 * column) is created per process on first use, on the CPU.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder.js';

let session: Promise<ort.InferenceSession> | null = null;

function probabilitySession(): Promise<ort.InferenceSession> {
  if (!session) {
    const g = new GraphBuilder('target_probability');
    const logits = g.input('logits', 'float', ['b', 'vocab']);
    const target = g.input('target', 'int64', [1]);
    const probs = g.op1('Softmax', [logits], { axis: -1 }); // [b, vocab]
    g.op1('Gather', [probs, target], { axis: 1 }, 'prob'); // [b, 1]
    g.output('prob', 'float', ['b', 1]);
    session = ort.InferenceSession.create(g.build().model, { executionProviders: ['cpu'] });
    // A failed creation is not cached: the next call tries again.
    session.catch(() => { session = null; });
  }
  return session;
}

/** softmax(row)[targetId] for each row ([vocab] each, all the same length). */
export async function targetProbabilities(rows: readonly Float32Array[], targetId: number): Promise<Float32Array> {
  if (rows.length === 0) return new Float32Array(0);
  const V = rows[0]!.length;
  if (!Number.isInteger(targetId) || targetId < 0 || targetId >= V) throw new RangeError(`target id ${targetId} is outside logits of ${V}`);
  for (const row of rows) if (row.length !== V) throw new RangeError(`logit rows of different lengths (${row.length} vs ${V})`);
  // A batched run's rows are views of one array, one after another in some order: use that array
  // as it is rather than copying it (144 rows of GPT-2 logits are 29 MB).
  const n = rows.length;
  const first = rows[0]!;
  const base = Math.min(...rows.map((row) => row.byteOffset));
  const slots = rows.map((row) => (row.byteOffset - base) / (V * 4));
  const inPlace = rows.every((row, i) => row.buffer === first.buffer && Number.isInteger(slots[i]) && slots[i]! < n) && new Set(slots).size === n;
  const batch = inPlace ? new Float32Array(first.buffer, base, n * V) : new Float32Array(n * V); // [b, vocab]
  if (!inPlace) rows.forEach((row, i) => batch.set(row, i * V));
  const out = await (await probabilitySession()).run({
    logits: new ort.Tensor('float32', batch, [n, V]),
    target: new ort.Tensor('int64', BigInt64Array.of(BigInt(targetId)), [1]),
  });
  const probs = out['prob']!.data as Float32Array;
  return inPlace ? Float32Array.from(slots, (slot) => probs[slot]!) : probs;
}
