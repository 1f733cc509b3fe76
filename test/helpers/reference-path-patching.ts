/**
 * Path patching straight from its definition (Wang et al. 2022; the noising convention of ARENA's
 * IOI notebook), as re-runs of a float64 reference forward with its intervention callback: the
 * known answer the engine's batched path patching must equal. Shares no code with src/.
 *
 *  step 1: the clean prompt with every head's hook_z (every layer) replaced by its clean value,
 *          except the sender's, replaced by its corrupted value; MLPs and norms recomputed;
 *  step 2: the clean prompt with only the receivers' hook_q / hook_k / hook_v heads replaced by
 *          their step-1 values. For the receiver `logits`, step 1's logits are the answer.
 * Senders: every head of every layer before the latest receiver layer (every layer for `logits`).
 */
import type { ReferenceHookCallback, ReferenceTensor } from './reference-gpt2.js';

/** A float64 forward with TransformerLens hook names: hook_z [pos, head, d_head], hook_q/k/v [pos, (kv) head, d_head], logits [pos, vocab]. */
export type ReferenceForward = (ids: readonly number[], intervene?: ReferenceHookCallback) => Map<string, ReferenceTensor>;

export type ReferenceReceivers = 'logits' | ReadonlyArray<{ layer: number; head: number; input: 'q' | 'k' | 'v' }>;

export interface ReferencePathPatching {
  cleanLogitDiff: number;
  corruptLogitDiff: number;
  /** Layer-major, one per sender. */
  entries: Array<{ layer: number; head: number; logitDiff: number }>;
}

function lastLogitDiff(run: Map<string, ReferenceTensor>, target: number, contrast: number | null): number {
  const logits = run.get('logits')!;
  const [P, V] = logits.shape as [number, number];
  const row = (P - 1) * V;
  return logits.data[row + target]! - (contrast === null ? 0 : logits.data[row + contrast]!);
}

/** `to`'s rows of head `head` ([pos, head, d_head]) copied from `from`. */
function copyHead(to: Float64Array, from: Float64Array, shape: readonly number[], head: number): void {
  const [P, H, Dh] = shape as [number, number, number];
  for (let p = 0; p < P; p++) for (let e = 0; e < Dh; e++) to[(p * H + head) * Dh + e] = from[(p * H + head) * Dh + e]!;
}

export function referencePathPatching(
  forward: ReferenceForward,
  dims: { nLayers: number; nHeads: number },
  clean: readonly number[],
  corrupt: readonly number[],
  receivers: ReferenceReceivers,
  target: number,
  contrast: number | null,
): ReferencePathPatching {
  const cleanRun = forward(clean);
  const corruptRun = forward(corrupt);
  const bound = receivers === 'logits' ? dims.nLayers : Math.max(...receivers.map((r) => r.layer));
  const entries: ReferencePathPatching['entries'] = [];
  for (let layer = 0; layer < bound; layer++) {
    for (let head = 0; head < dims.nHeads; head++) {
      const step1 = forward(clean, (name, t) => {
        const m = /^blocks\.(\d+)\.attn\.hook_z$/.exec(name);
        if (!m) return;
        const frozen = cleanRun.get(name)!.data.slice();
        if (Number(m[1]) === layer) copyHead(frozen, corruptRun.get(name)!.data, t.shape, head);
        return { shape: [...t.shape], data: frozen };
      });
      if (receivers === 'logits') {
        entries.push({ layer, head, logitDiff: lastLogitDiff(step1, target, contrast) });
        continue;
      }
      const step2 = forward(clean, (name, t) => {
        const mine = receivers.filter((r) => name === `blocks.${r.layer}.attn.hook_${r.input}`);
        if (mine.length === 0) return;
        const data = t.data.slice();
        for (const r of mine) copyHead(data, step1.get(name)!.data, t.shape, r.head);
        return { shape: [...t.shape], data };
      });
      entries.push({ layer, head, logitDiff: lastLogitDiff(step2, target, contrast) });
    }
  }
  return { cleanLogitDiff: lastLogitDiff(cleanRun, target, contrast), corruptLogitDiff: lastLogitDiff(corruptRun, target, contrast), entries };
}
