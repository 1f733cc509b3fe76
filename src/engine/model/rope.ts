/** Rotary position embedding's frequencies, as HF's rope initialisation functions compute them. */
import type { RotaryConfig } from './config.js';

/**
 * The inverse frequencies of RoPE, [d_head / 2]: theta^(-2j / d_head), divided by the linear
 * scaling factor if there is one (HF's `_compute_linear_scaling_rope_parameters`), then llama3 scaling as HF's
 * `_compute_llama3_parameters` applies it, by wavelength: wavelengths above
 * original_max_position_embeddings / low_freq_factor are divided by `factor`, those below
 * original_max_position_embeddings / high_freq_factor kept, the band between interpolated.
 */
export function ropeInverseFrequencies(rotary: RotaryConfig, dHead: number): Float64Array {
  const half = dHead / 2;
  const inv = new Float64Array(half);
  for (let j = 0; j < half; j++) inv[j] = 1 / Math.pow(rotary.theta, (2 * j) / dHead);
  if (rotary.linearFactor !== undefined) for (let j = 0; j < half; j++) inv[j] = inv[j]! / rotary.linearFactor;
  const s = rotary.llama3;
  if (!s) return inv;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let j = 0; j < half; j++) {
    const f = inv[j]!;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) inv[j] = f / s.factor;
    else if (wavelen >= highFreqWavelen) {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[j] = ((1 - smooth) * f) / s.factor + smooth * f;
    }
  }
  return inv;
}
