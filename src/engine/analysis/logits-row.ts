/**
 * Reading one position's logits from a cache whose `logits` hook may hold every position
 * ([pos, vocab]) or, when the forward was asked for `logitPositions: [position]`, only that one
 * ([1, vocab]).
 */
import { EngineError } from '../errors.js';
import type { ActivationCache } from '../hooks.js';

export function logitsRow(cache: ActivationCache, position: number, nPos: number): Float32Array {
  const logits = cache.get('logits');
  if (!logits) throw new EngineError('INTERNAL', 'The forward pass did not return logits.');
  const [rows, vocab] = logits.shape;
  if (rows === undefined || vocab === undefined) throw new EngineError('INTERNAL', 'logits must be [pos, vocab].');
  const row = rows === nPos ? position : rows === 1 ? 0 : -1;
  if (row < 0) throw new EngineError('INTERNAL', `logits hold ${rows} positions, neither the prompt's ${nPos} nor the traced one.`);
  return logits.data.subarray(row * vocab, (row + 1) * vocab);
}
