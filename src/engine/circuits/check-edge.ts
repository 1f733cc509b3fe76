/**
 * A circuit edge out of a head checked by path patching (patching/path-patching.ts): the sender's
 * direct path to the receiver (the logits, or a later head's q, k or v input) patched to its
 * corrupted value, reported as the patched logit difference and its share of clean − corrupt.
 */
import type { EdgeCheck, EdgeCheckRequest } from '../../protocol/circuit.js';
import { EngineError } from '../errors.js';
import { runPathPatching } from '../patching/path-patching.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';

const SENDER = /^L(\d+)H(\d+)$/;
const RECEIVER = /^L(\d+)(?:H|KV)(\d+)\.([qkv])$/;

/** The path-patching receivers of an edge's reader: `logits` or `L1H2:k` (a key/value head's number for k and v). */
export function edgeReceivers(to: string): string {
  if (to === 'logits') return 'logits';
  const m = RECEIVER.exec(to);
  if (!m) throw new EngineError('BAD_ARGUMENT', `Path patching checks edges into the logits or a head's q, k or v input, not into "${to}".`);
  return `L${m[1]}H${m[2]}:${m[3]}`;
}

export async function checkEdge(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  request: EdgeCheckRequest,
  options: { signal?: AbortSignal; maxTokens?: number } = {},
): Promise<EdgeCheck> {
  const sender = SENDER.exec(request.from);
  if (!sender) throw new EngineError('BAD_ARGUMENT', `Path patching checks edges out of a head (LxHy), not out of "${request.from}".`);
  const receivers = edgeReceivers(request.to);
  const result = await runPathPatching(
    runner,
    tokenizer,
    {
      cleanIds: request.cleanIds,
      corruptIds: request.corruptIds,
      target: request.target,
      ...(request.contrast ? { contrast: request.contrast } : {}),
      receivers,
    },
    options,
  );
  const entry = result.entries.find((e) => e.layer === Number(sender[1]) && e.head === Number(sender[2]));
  if (!entry) throw new EngineError('BAD_ARGUMENT', `${request.from} is not a sender for ${request.to}: path patching sends from heads in earlier layers.`);
  return {
    from: request.from,
    to: request.to,
    receivers: result.receivers,
    logitDiff: entry.logitDiff,
    cleanLogitDiff: result.cleanLogitDiff,
    corruptLogitDiff: result.corruptLogitDiff,
    normalized: Number.isFinite(entry.normalized) ? entry.normalized : null,
  };
}
