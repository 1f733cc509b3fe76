/**
 * Numerically stable softmax pieces, computed in float64 whatever the input precision:
 * a 50k-entry logit row summed in float32 loses about three digits, and the probabilities the UI
 * shows (and the ranks the logit lens reports) should not depend on summation order.
 */

/** log Σ exp(x), with the maximum subtracted first so that no exp overflows. */
export function logSumExp(row: ArrayLike<number>): number {
  const n = row.length;
  if (n === 0) throw new Error('logSumExp: empty row');
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    if (v > max) max = v;
  }
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** softmax(row) as float64 probabilities. */
export function softmax(row: ArrayLike<number>): Float64Array {
  const lse = logSumExp(row);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = Math.exp(row[i]! - lse);
  return out;
}
