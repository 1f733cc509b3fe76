/**
 * A decoder read lazily from a safetensors file: only the rows asked for, with positioned reads of
 * the file (no whole-file buffer), converted from the stored dtype (F32, F16, BF16, F64) per row,
 * each row checked to be finite when it is read, and a small cache of recently read rows.
 *
 * Stored layouts, for d_sae features and outputs of width d_out:
 * - `rows`: [d_sae, n_out, d_out] (n_out = 1: SAELens's and circuit-tracer's [d_sae, d_out]; a
 *   cross-layer transcoder's W_dec_l is [d_sae, n_layers - l, d_model]); feature f's row for output
 *   j is the d_out contiguous values at element (f * n_out + j) * d_out.
 * - `columns`: [d_out, d_sae] (circuit-tracer's first relu transcoders store W_dec transposed);
 *   feature f's row is column f, read as one span of each stored row covering the features asked.
 *
 * Assumes a little-endian host, as every platform ONNX Runtime ships for.
 */
import { EngineError } from '../errors.js';
import { assertFiniteTensor } from '../model/finite-check.js';
import { bf16ToF32, f16ToF32, type SafetensorsTensor } from '../model/safetensors.js';
import type { DecoderRows } from './dictionary.js';
import type { PositionedFile } from './positioned-file.js';

export type DecoderLayout = { kind: 'rows'; nOut: number; output: number } | { kind: 'columns' };

/** Rows kept after they were read, per decoder. */
const DEFAULT_CACHE_ROWS = 512;

const ELEMENT_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** How many reads and bytes a decoder has taken from its file (tests check that reads stay lazy). */
export interface DecoderReadStats {
  reads: number;
  bytesRead: number;
}

export class SafetensorsDecoderRows implements DecoderRows {
  readonly stats: DecoderReadStats = { reads: 0, bytesRead: 0 };
  private readonly cache = new Map<number, Float32Array>();
  private readonly elementBytes: number;
  private readonly label: string;

  constructor(
    private readonly file: PositionedFile,
    private readonly tensor: SafetensorsTensor,
    readonly dSae: number,
    readonly dOut: number,
    private readonly layout: DecoderLayout,
    private readonly cacheRows = DEFAULT_CACHE_ROWS,
  ) {
    const bytes = ELEMENT_BYTES[tensor.dtype];
    const label = file.label;
    if (bytes === undefined) {
      throw new EngineError('UNSUPPORTED_DTYPE', `${label}: decoder "${tensor.name}" has dtype ${tensor.dtype}; decoders must be F32, F16, BF16 or F64.`);
    }
    this.elementBytes = bytes;
    const nOut = layout.kind === 'rows' ? layout.nOut : 1;
    if (tensor.byteLength !== dSae * nOut * dOut * bytes) {
      throw new EngineError(
        'WRONG_SHAPE',
        `${label}: decoder "${tensor.name}" holds ${tensor.byteLength} bytes, not [${dSae}, ${nOut}, ${dOut}] of ${tensor.dtype}.`,
      );
    }
    this.label = file.label;
  }

  rows(features: readonly number[]): Float32Array {
    const out = new Float32Array(features.length * this.dOut);
    const missing: number[] = [];
    for (const f of features) {
      if (!Number.isInteger(f) || f < 0 || f >= this.dSae) {
        throw new EngineError('BAD_ARGUMENT', `Feature ${f} is out of range: ${this.label} has ${this.dSae} features (0–${this.dSae - 1}).`);
      }
      if (!this.cache.has(f)) missing.push(f);
    }
    const fresh = this.read([...new Set(missing)].sort((a, b) => a - b));
    features.forEach((f, i) => {
      const row = fresh.get(f) ?? this.cache.get(f)!;
      out.set(row, i * this.dOut);
    });
    for (const [f, row] of fresh) this.remember(f, row);
    return out;
  }

  all(): Float32Array {
    const features = Array.from({ length: this.dSae }, (_, f) => f);
    const rows = this.read(features);
    const out = new Float32Array(this.dSae * this.dOut);
    for (const [f, row] of rows) out.set(row, f * this.dOut);
    return out;
  }

  /** Closes the file (shared with the file's other decoders) and drops the cached rows; a later read opens it again. */
  close(): void {
    this.file.close();
    this.cache.clear();
  }

  private remember(feature: number, row: Float32Array): void {
    if (this.cacheRows <= 0) return;
    this.cache.delete(feature);
    this.cache.set(feature, row);
    while (this.cache.size > this.cacheRows) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Reads rows `sorted` (ascending, distinct) from the file. */
  private read(sorted: readonly number[]): Map<number, Float32Array> {
    const rows = new Map<number, Float32Array>();
    if (sorted.length === 0) return rows;
    if (this.layout.kind === 'rows') {
      const { nOut, output } = this.layout;
      // Consecutive features are contiguous only when each feature has one output row.
      for (let i = 0; i < sorted.length;) {
        let j = i + 1;
        if (nOut === 1) while (j < sorted.length && sorted[j] === sorted[j - 1]! + 1) j++;
        const first = sorted[i]!;
        const values = this.readElements((first * nOut + output) * this.dOut, (j - i) * this.dOut);
        for (let k = i; k < j; k++) rows.set(sorted[k]!, values.subarray((k - i) * this.dOut, (k - i + 1) * this.dOut));
        i = j;
      }
    } else {
      const lo = sorted[0]!;
      const span = sorted[sorted.length - 1]! - lo + 1;
      for (const f of sorted) rows.set(f, new Float32Array(this.dOut));
      for (let c = 0; c < this.dOut; c++) {
        const values = this.readElements(c * this.dSae + lo, span);
        for (const f of sorted) rows.get(f)![c] = values[f - lo]!;
      }
    }
    for (const [f, row] of rows) assertFiniteTensor(row, [this.dOut], `${this.tensor.name} (row ${f})`, this.label);
    return rows;
  }

  /** `count` elements from element `start` of the tensor, as float32. */
  private readElements(start: number, count: number): Float32Array {
    const length = count * this.elementBytes;
    const bytes = this.file.read(this.tensor.byteOffset + start * this.elementBytes, length);
    this.stats.reads += 1;
    this.stats.bytesRead += length;
    switch (this.tensor.dtype) {
      case 'F16':
        return f16ToF32(new Uint16Array(bytes.buffer));
      case 'BF16':
        return bf16ToF32(new Uint16Array(bytes.buffer));
      case 'F64':
        return Float32Array.from(new Float64Array(bytes.buffer));
      default:
        return new Float32Array(bytes.buffer);
    }
  }
}
