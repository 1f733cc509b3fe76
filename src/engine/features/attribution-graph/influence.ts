/**
 * Influence on the logits through an attribution graph, as circuit-tracer defines it: the edge
 * matrix's absolute values normalised per target row (each row sums to 1), and a node's influence
 * the logit-probability-weighted sum over every path from it to the logits of the products of
 * normalised edges (w·Â + w·Â² + …, iterated until no path is left). Every product runs on ONNX
 * Runtime, over row chunks of the matrix so that no temporary is as large as the matrix.
 */
import * as ort from 'onnxruntime-node';
import { EngineError } from '../../errors.js';
import { GraphBuilder } from '../../onnx/graph-builder.js';
import { f32 } from '../../runtime/ort-tensors.js';

/** Rows per ONNX call over a large matrix. */
const CHUNK_ROWS = 512;
/** circuit-tracer's iteration bounds: compute_partial_influences' and compute_influence's max_iter. */
const PARTIAL_MAX_ITER = 128;
const FULL_MAX_ITER = 1000;

export class InfluenceSessions {
  private constructor(
    private readonly absWeighted: ort.InferenceSession,
    private readonly rowL1: ort.InferenceSession,
    private readonly gatherAbs: ort.InferenceSession,
    private readonly vecmat: ort.InferenceSession,
    private readonly normalize: ort.InferenceSession,
  ) {}

  static async create(threads?: number): Promise<InfluenceSessions> {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      ...(threads ? { intraOpNumThreads: threads } : {}),
    };
    const make = async (name: string, build: (g: GraphBuilder) => void): Promise<ort.InferenceSession> => {
      const g = new GraphBuilder(name, 'initializers');
      build(g);
      return ort.InferenceSession.create(g.build().model, options);
    };
    const absWeighted = await make('abs_weighted', (g) => {
      g.input('w', 'float', [1, 'c']);
      g.input('e', 'float', ['c', 'n']);
      g.op1('MatMul', ['w', g.op1('Abs', ['e'])], {}, 'y');
      g.output('y', 'float', [1, 'n']);
    });
    const rowL1 = await make('row_l1', (g) => {
      g.input('e', 'float', ['c', 'n']);
      g.op1('ReduceL1', ['e', g.constInt64([1])], { keepdims: 0 }, 'y');
      g.output('y', 'float', ['c']);
    });
    const gatherAbs = await make('gather_abs', (g) => {
      g.input('e', 'float', ['c', 'n']);
      g.input('idx', 'int64', ['k']);
      g.op1('Abs', [g.op1('Gather', ['e', 'idx'], { axis: 1 })], {}, 'y');
      g.output('y', 'float', ['c', 'k']);
    });
    const vecmat = await make('vecmat', (g) => {
      g.input('v', 'float', [1, 'k']);
      g.input('m', 'float', ['k', 'n']);
      g.op1('MatMul', ['v', 'm'], {}, 'y');
      g.output('y', 'float', [1, 'n']);
    });
    const normalize = await make('normalize_rows', (g) => {
      g.input('e', 'float', ['c', 'n']);
      g.input('floor', 'float', [1]);
      const sums = g.op1('Max', [g.op1('ReduceL1', ['e', g.constInt64([1])], { keepdims: 1 }), 'floor']);
      g.op1('Div', [g.op1('Abs', ['e']), sums], {}, 'y');
      g.output('y', 'float', ['c', 'n']);
    });
    return new InfluenceSessions(absWeighted, rowL1, gatherAbs, vecmat, normalize);
  }

  /** v [k] times m [k, n]. */
  async vectorTimes(v: Float32Array, m: Float32Array, k: number, n: number): Promise<Float32Array> {
    const out = await this.vecmat.run({ v: f32(v, [1, k]), m: f32(m, [k, n]) });
    return out['y']!.data as Float32Array;
  }

  /** Row sums of |e| for `rows` rows of `e` ([rows, n]), floored at `floor`. */
  async rowAbsSums(e: Float32Array, rows: number, n: number, floor: number): Promise<Float32Array> {
    const sums = new Float32Array(rows);
    for (let r = 0; r < rows; r += CHUNK_ROWS) {
      const c = Math.min(CHUNK_ROWS, rows - r);
      const out = await this.rowL1.run({ e: f32(e.subarray(r * n, (r + c) * n), [c, n]) });
      sums.set(out['y']!.data as Float32Array, r);
    }
    for (let r = 0; r < rows; r++) sums[r] = Math.max(sums[r]!, floor);
    return sums;
  }

  /** w [rows] times |e| ([rows, n]): [n]. */
  async weightedAbsColumns(w: Float32Array, e: Float32Array, rows: number, n: number): Promise<Float32Array> {
    const total = new Float32Array(n);
    for (let r = 0; r < rows; r += CHUNK_ROWS) {
      const c = Math.min(CHUNK_ROWS, rows - r);
      const wc = w.subarray(r, r + c);
      if (!wc.some((x) => x !== 0)) continue;
      const out = (await this.absWeighted.run({ w: f32(wc, [1, c]), e: f32(e.subarray(r * n, (r + c) * n), [c, n]) }))['y']!.data as Float32Array;
      for (let j = 0; j < n; j++) total[j]! += out[j]!;
    }
    return total;
  }

  /** |e[:, columns]| for `rows` rows of e ([rows, n]): [rows, columns.length]. */
  async absColumns(e: Float32Array, rows: number, n: number, columns: readonly number[]): Promise<Float32Array> {
    const k = columns.length;
    const out = new Float32Array(rows * k);
    const idx = new ort.Tensor('int64', BigInt64Array.from(columns, BigInt), [k]);
    for (let r = 0; r < rows; r += CHUNK_ROWS) {
      const c = Math.min(CHUNK_ROWS, rows - r);
      const y = await this.gatherAbs.run({ e: f32(e.subarray(r * n, (r + c) * n), [c, n]), idx });
      out.set(y['y']!.data as Float32Array, r * k);
    }
    return out;
  }

  /**
   * circuit-tracer's normalize_matrix: |a| / max(row sum of |a|, floor) ([rows, n]), into `out` (a
   * new array by default; `a` itself is allowed: each chunk is read before it is written).
   */
  async normalizeRows(a: Float32Array, rows: number, n: number, floor: number, out: Float32Array = new Float32Array(rows * n)): Promise<Float32Array> {
    const floorTensor = f32(Float32Array.of(floor), [1]);
    for (let r = 0; r < rows; r += CHUNK_ROWS) {
      const c = Math.min(CHUNK_ROWS, rows - r);
      const y = await this.normalize.run({ e: f32(a.subarray(r * n, (r + c) * n), [c, n]), floor: floorTensor });
      out.set(y['y']!.data as Float32Array, r * n);
    }
    return out;
  }

  /**
   * circuit-tracer's compute_influence on a normalised square matrix ([n, n]): w·Â + w·Â² + … until
   * the product is all zero. NON_FINITE if it has not after 1000 steps (a cycle).
   */
  async influence(normalized: Float32Array, weights: Float32Array, n: number): Promise<Float64Array> {
    let current = await this.vectorTimes(weights, normalized, n, n);
    const total = Float64Array.from(current);
    for (let i = 0; current.some((x) => x !== 0); i++) {
      if (i >= FULL_MAX_ITER) throw new EngineError('INTERNAL', `Influence did not converge after ${FULL_MAX_ITER} steps.`);
      current = await this.vectorTimes(current, normalized, n, n);
      for (let j = 0; j < n; j++) total[j]! += current[j]!;
    }
    return total;
  }

  /**
   * circuit-tracer's compute_partial_influences: the influence of every source column of the
   * visited rows ([rows, n] of `edges`, row k the target node `rowNode[k]`), starting from the
   * logit rows' probabilities. Only nodes with a row pass influence on, so the iteration runs on
   * the rows' own columns (a [rows, rows] matrix); the last product covers every column.
   * @param rowNode per row: its node's column in `edges`, or -1 for a logit row (no column)
   * @param start per row: the logit probability of a logit row, 0 otherwise
   */
  async partialInfluences(edges: Float32Array, rows: number, n: number, rowNode: Int32Array, start: Float32Array): Promise<Float32Array> {
    const sums = await this.rowAbsSums(edges, rows, n, 1e-8);
    const cols: number[] = [];
    const colRow: number[] = [];
    for (let k = 0; k < rows; k++)
      if (rowNode[k]! >= 0) {
        cols.push(rowNode[k]!);
        colRow.push(k);
      }
    const square = await this.absColumns(edges, rows, n, cols); // [rows, cols.length]
    for (let k = 0; k < rows; k++) {
      const inv = 1 / sums[k]!;
      for (let j = 0; j < cols.length; j++) square[k * cols.length + j]! *= inv;
    }
    let v = start.slice(0, rows);
    const visits = new Float32Array(rows);
    for (let i = 0; v.some((x) => x !== 0); i++) {
      if (i >= PARTIAL_MAX_ITER) throw new EngineError('INTERNAL', 'Feature influence did not converge.');
      for (let k = 0; k < rows; k++) visits[k]! += v[k]!;
      const next = cols.length > 0 ? await this.vectorTimes(v, square, rows, cols.length) : new Float32Array(0);
      v = new Float32Array(rows);
      colRow.forEach((k, j) => (v[k] = next[j]!));
    }
    for (let k = 0; k < rows; k++) visits[k]! /= sums[k]!;
    return this.weightedAbsColumns(visits, edges, rows, n);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.absWeighted, this.rowL1, this.gatherAbs, this.vecmat, this.normalize].map((s) => s.release()));
  }
}
