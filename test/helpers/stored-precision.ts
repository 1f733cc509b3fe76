/**
 * The rounding a checkpoint's stored precision applies to float32 weights, written from the IEEE
 * definitions: x rounded to nearest (ties to even) with `bits` significant bits (the implicit bit
 * included) and smallest normal exponent `minExponent`. BF16: 8 bits, float32's exponent range;
 * F16: 11 bits, subnormals below 2^-14. Test weights are far from overflow.
 */
export function roundToPrecision(x: number, bits: number, minExponent: number): number {
  if (x === 0) return 0;
  const exponent = Math.max(Math.floor(Math.log2(Math.abs(x))), minExponent);
  const quantum = 2 ** (exponent - (bits - 1));
  const scaled = x / quantum;
  let rounded = Math.floor(scaled);
  const rest = scaled - rounded;
  if (rest > 0.5 || (rest === 0.5 && rounded % 2 !== 0)) rounded++; // a tie goes to the even neighbour
  return rounded * quantum;
}

/** Each stored dtype's rounding of a float32 value. */
export const STORED_ROUNDING = {
  F32: (x: number): number => x,
  BF16: (x: number): number => roundToPrecision(x, 8, -126),
  F16: (x: number): number => roundToPrecision(x, 11, -14),
} as const;
