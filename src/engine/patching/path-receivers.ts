/**
 * Path patching's receivers: the final logits, or a set of heads' inputs (their hook_q, hook_k or
 * hook_v), written `logits` or `L9H6:q,L9H9:q` as on the command line. The senders are every head of
 * the layers before the latest receiver layer (every layer for `logits`).
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';

/** Which input of a receiving head is patched. */
export type ReceiverInput = 'q' | 'k' | 'v';

export interface ReceiverHead {
  layer: number;
  /** A query head for q; for k and v a kv head (the same number without grouped-query attention), as hook_k / hook_v index them. */
  head: number;
  input: ReceiverInput;
}

export type PathReceivers = { kind: 'logits' } | { kind: 'heads'; heads: readonly ReceiverHead[] };

const HEAD_SPEC = /^L(\d+)H(\d+):([qkv])$/i;
const FORMAT_HINT = 'Give "logits" or heads\' inputs as LxHy:q, LxHy:k or LxHy:v separated by commas, e.g. L9H6:q,L9H9:q.';

/** Parses `logits` or `L9H6:q,L9H9:k` (case of the letters ignored, spaces around commas allowed). */
export function parseReceivers(spec: string): PathReceivers {
  const text = spec.trim();
  if (text.toLowerCase() === 'logits') return { kind: 'logits' };
  if (text === '') throw new EngineError('BAD_ARGUMENT', 'The receivers are empty.', FORMAT_HINT);
  const heads: ReceiverHead[] = [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    const match = HEAD_SPEC.exec(item);
    if (!match) {
      const what = item.toLowerCase() === 'logits' ? '"logits" cannot be combined with head receivers' : `"${item}" is not a receiver`;
      throw new EngineError('BAD_ARGUMENT', `Malformed receivers "${spec}": ${what}.`, FORMAT_HINT);
    }
    const receiver: ReceiverHead = { layer: Number(match[1]), head: Number(match[2]), input: match[3]!.toLowerCase() as ReceiverInput };
    const key = `${receiver.layer}:${receiver.head}:${receiver.input}`;
    if (seen.has(key)) continue;
    seen.add(key);
    heads.push(receiver);
  }
  return { kind: 'heads', heads };
}

/** The receivers as the canonical text (`logits` or `L9H6:q,L9H9:q`). */
export function formatReceivers(receivers: PathReceivers): string {
  return receivers.kind === 'logits' ? 'logits' : receivers.heads.map((r) => `L${r.layer}H${r.head}:${r.input}`).join(',');
}

/**
 * Checks every receiver against the model: its layer and head exist (kv heads for k and v), and
 * some head comes before it (a receiver in layer 0 has no sender).
 */
export function checkReceivers(receivers: PathReceivers, config: Pick<ModelConfig, 'nLayers' | 'nHeads' | 'nKvHeads'>): void {
  if (receivers.kind === 'logits') return;
  const { nLayers, nHeads } = config;
  const nKvHeads = config.nKvHeads ?? nHeads;
  for (const r of receivers.heads) {
    const name = `L${r.layer}H${r.head}:${r.input}`;
    if (r.layer >= nLayers)
      throw new EngineError('BAD_ARGUMENT', `Receiver ${name}: layer ${r.layer} does not exist (the model has layers 0..${nLayers - 1}).`);
    const heads = r.input === 'q' ? nHeads : nKvHeads;
    if (r.head >= heads) {
      const kind = r.input === 'q' || nKvHeads === nHeads ? 'heads' : 'kv heads (grouped-query attention: k and v name kv heads)';
      throw new EngineError('BAD_ARGUMENT', `Receiver ${name}: head ${r.head} does not exist (the model has ${kind} 0..${heads - 1}).`);
    }
  }
  if (receivers.heads.every((r) => r.layer === 0)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `Every receiver (${formatReceivers(receivers)}) is in layer 0, before every sender: path patching needs a sender head in an earlier layer.`,
      'Pick receivers in layer 1 or later, or "logits".',
    );
  }
}

/** The layer senders must come before: the latest receiver layer, or nLayers for the logits. */
export function senderLayerBound(receivers: PathReceivers, nLayers: number): number {
  return receivers.kind === 'logits' ? nLayers : Math.max(...receivers.heads.map((r) => r.layer));
}
