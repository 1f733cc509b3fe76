/**
 * Matrix products on ONNX Runtime, for the features' large contractions (encoders against the
 * stream, decoder directions against the unembedding): one small session with a batched MatMul and
 * one with a Gemm against a transposed right operand, so neither operand is copied or transposed in
 * JavaScript.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { f32 } from './ort-tensors.js';
import { sessionOptions } from './sessions.js';

export class MatmulSessions {
  private constructor(
    private readonly batched: ort.InferenceSession,
    private readonly transposed: ort.InferenceSession,
  ) {}

  static async create(threads?: number): Promise<MatmulSessions> {
    const options = sessionOptions('cpu', threads);
    const mm = new GraphBuilder('matmul', 'initializers');
    mm.input('a', 'float', ['n', 'm', 'k']);
    mm.input('b', 'float', ['n', 'k', 'j']);
    mm.op1('MatMul', ['a', 'b'], {}, 'y');
    mm.output('y', 'float', ['n', 'm', 'j']);
    const nt = new GraphBuilder('matmul_nt', 'initializers');
    nt.input('a', 'float', ['m', 'k']);
    nt.input('b', 'float', ['n', 'k']);
    nt.op1('Gemm', ['a', 'b'], { transB: 1 }, 'y');
    nt.output('y', 'float', ['m', 'n']);
    return new MatmulSessions(await ort.InferenceSession.create(mm.build().model, options), await ort.InferenceSession.create(nt.build().model, options));
  }

  /** a [n, m, k] times b [n, k, j]: [n, m, j]. */
  async batchedMatmul(a: Float32Array, b: Float32Array, n: number, m: number, k: number, j: number): Promise<Float32Array> {
    const out = await this.batched.run({ a: f32(a, [n, m, k]), b: f32(b, [n, k, j]) });
    return out['y']!.data as Float32Array;
  }

  /** a [m, k] times b [n, k] transposed: [m, n]. */
  async matmulTransposed(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Promise<Float32Array> {
    const out = await this.transposed.run({ a: f32(a, [m, k]), b: f32(b, [n, k]) });
    return out['y']!.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.batched.release(), this.transposed.release()]);
  }
}
