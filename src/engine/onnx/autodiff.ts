/**
 * Reverse-mode differentiation of ONNX graphs built at load time. ONNX Runtime runs inference
 * graphs only, so a graph that needs gradients is written against a `Tape`: each operation emits
 * its forward node into a GraphBuilder and records how to pull a gradient back through it (its
 * vector-Jacobian product, itself built from ONNX nodes). `backward` then walks the records in
 * reverse and emits the backward nodes into the same graph, so one graph computes a block's
 * forward and the gradients of any of its values for a batch of output gradients.
 *
 * Shapes are tracked symbolically (a number, or a name such as 'b' for sizes known only at run
 * time) so that gradients of broadcast operands can be summed back to their operand's shape.
 */
import { GraphBuilder, type Dim } from './graph-builder.js';

/** A value of the graph: its ONNX name, its shape and whether gradients flow into it. */
export interface TapeValue {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly differentiable: boolean;
}

/** Pulls the gradients of a record's outputs (null: none reached it) back to its inputs (null: not differentiable or zero). */
export type Pullback = (outputGrads: ReadonlyArray<string | null>) => Array<string | null>;

interface TapeRecord {
  inputs: readonly TapeValue[];
  outputs: readonly TapeValue[];
  pullback: Pullback;
}

export class Tape {
  readonly g: GraphBuilder;
  private readonly records: TapeRecord[] = [];
  /** Run-time sizes of symbolic dims, each an int64 [1] value. */
  private readonly symbols = new Map<string, string>();
  private readonly shapeCache = new Map<string, string>();
  /** After backward: each value's summed gradient. */
  private readonly grads = new Map<string, string>();

  constructor(name: string, mode: ConstructorParameters<typeof GraphBuilder>[1] = 'initializers') {
    this.g = new GraphBuilder(name, mode);
  }

  /** A graph input; its symbolic dims become known from it. */
  input(name: string, dims: readonly Dim[], differentiable: boolean): TapeValue {
    this.g.input(name, 'float', dims);
    dims.forEach((d, axis) => {
      if (typeof d === 'string' && !this.symbols.has(d)) {
        this.symbols.set(d, this.g.op1('Slice', [this.g.op1('Shape', [name]), this.g.constInt64([axis]), this.g.constInt64([axis + 1])]));
      }
    });
    return { name, shape: [...dims], differentiable };
  }

  /** A float32 weight (no gradient). */
  weight(name: string, data: Float32Array, dims: readonly number[]): TapeValue {
    return { name: this.g.weight(name, data, dims), shape: [...dims], differentiable: false };
  }

  constant(values: readonly number[], dims: readonly number[] = []): TapeValue {
    return { name: this.g.constFloat(values, dims), shape: [...dims], differentiable: false };
  }

  /** The int64 shape tensor of `dims` at run time. */
  shapeOf(dims: readonly Dim[]): string {
    const key = dims.join(',');
    let name = this.shapeCache.get(key);
    if (name === undefined) {
      if (dims.every((d) => typeof d === 'number')) name = this.g.constInt64(dims as number[]);
      else {
        const parts = dims.map((d) => {
          if (typeof d === 'number') return this.g.constInt64([d]);
          const s = this.symbols.get(d);
          if (s === undefined) throw new Error(`tape: no run-time size for dim "${d}"`);
          return s;
        });
        name = this.g.op1('Concat', parts, { axis: 0 });
      }
      this.shapeCache.set(key, name);
    }
    return name;
  }

  /** Records a node whose outputs are differentiable when any input is. */
  private record(inputs: readonly TapeValue[], outputs: Array<{ name: string; shape: readonly Dim[] }>, pullback: Pullback): TapeValue[] {
    const differentiable = inputs.some((v) => v.differentiable);
    const values = outputs.map((o) => ({ name: o.name, shape: [...o.shape], differentiable }));
    if (differentiable) this.records.push({ inputs, outputs: values, pullback });
    return values;
  }

  /**
   * An operation whose forward nodes the caller emitted (its outputs named in `outputs`) and whose
   * pullback it writes: for a model-specific step with a cheaper backward than its generic one.
   */
  custom(inputs: readonly TapeValue[], outputs: Array<{ name: string; shape: readonly Dim[] }>, pullback: Pullback): TapeValue[] {
    return this.record(inputs, outputs, pullback);
  }

  private unary(x: TapeValue, op: string, pull: (g: string, y: string) => string, attrs: Parameters<GraphBuilder['op1']>[2] = {}): TapeValue {
    const y = this.g.op1(op, [x.name], attrs);
    return this.record([x], [{ name: y, shape: x.shape }], ([g]) => [g === null ? null : pull(g!, y)])[0]!;
  }

  // --- elementwise ------------------------------------------------------------------------

  add(a: TapeValue, b: TapeValue): TapeValue {
    const shape = broadcastShape(a.shape, b.shape);
    const y = this.g.op1('Add', [a.name, b.name]);
    return this.record([a, b], [{ name: y, shape }], ([g]) => [this.sumTo(g!, shape, a), this.sumTo(g!, shape, b)])[0]!;
  }

  sub(a: TapeValue, b: TapeValue): TapeValue {
    const shape = broadcastShape(a.shape, b.shape);
    const y = this.g.op1('Sub', [a.name, b.name]);
    return this.record([a, b], [{ name: y, shape }], ([g]) => [
      this.sumTo(g!, shape, a),
      b.differentiable ? this.sumTo(this.g.op1('Neg', [g!]), shape, b) : null,
    ])[0]!;
  }

  mul(a: TapeValue, b: TapeValue): TapeValue {
    const shape = broadcastShape(a.shape, b.shape);
    const y = this.g.op1('Mul', [a.name, b.name]);
    return this.record([a, b], [{ name: y, shape }], ([g]) => [
      a.differentiable ? this.sumTo(this.g.op1('Mul', [g!, b.name]), shape, a) : null,
      b.differentiable ? this.sumTo(this.g.op1('Mul', [g!, a.name]), shape, b) : null,
    ])[0]!;
  }

  div(a: TapeValue, b: TapeValue): TapeValue {
    const shape = broadcastShape(a.shape, b.shape);
    const y = this.g.op1('Div', [a.name, b.name]);
    return this.record([a, b], [{ name: y, shape }], ([g]) => [
      a.differentiable ? this.sumTo(this.g.op1('Div', [g!, b.name]), shape, a) : null,
      // d(a / b)/db = -y / b
      b.differentiable ? this.sumTo(this.g.op1('Neg', [this.g.op1('Div', [this.g.op1('Mul', [g!, y]), b.name])]), shape, b) : null,
    ])[0]!;
  }

  scale(x: TapeValue, factor: number): TapeValue {
    return this.mul(x, this.constant([factor]));
  }

  sqrt(x: TapeValue): TapeValue {
    // d sqrt(x) = 1 / (2 y)
    return this.unary(x, 'Sqrt', (g, y) => this.g.op1('Div', [g, this.g.op1('Add', [y, y])]));
  }

  tanh(x: TapeValue): TapeValue {
    return this.unary(x, 'Tanh', (g, y) => this.g.op1('Mul', [g, this.g.op1('Sub', [this.g.constFloat([1], []), this.g.op1('Mul', [y, y])])]));
  }

  erf(x: TapeValue): TapeValue {
    // d erf(x) = 2 / sqrt(pi) exp(-x^2)
    return this.unary(x, 'Erf', (g) =>
      this.g.op1('Mul', [
        g,
        this.g.op1('Mul', [this.g.constFloat([2 / Math.sqrt(Math.PI)], []), this.g.op1('Exp', [this.g.op1('Neg', [this.g.op1('Mul', [x.name, x.name])])])]),
      ]),
    );
  }

  sigmoid(x: TapeValue): TapeValue {
    return this.unary(x, 'Sigmoid', (g, y) => this.g.op1('Mul', [g, this.g.op1('Mul', [y, this.g.op1('Sub', [this.g.constFloat([1], []), y])])]));
  }

  relu(x: TapeValue): TapeValue {
    return this.unary(x, 'Relu', (g) => this.g.op1('Mul', [g, this.g.op1('Cast', [this.g.op1('Greater', [x.name, this.g.constFloat([0], [])])], { to: 1 })]));
  }

  /** Softmax over the last axis. */
  softmax(x: TapeValue): TapeValue {
    // dx = y (g - sum(g y))
    return this.unary(
      x,
      'Softmax',
      (g, y) => this.g.op1('Mul', [y, this.g.op1('Sub', [g, this.g.op1('ReduceSum', [this.g.op1('Mul', [g, y]), this.g.constInt64([-1])], { keepdims: 1 })])]),
      { axis: -1 },
    );
  }

  /** Log-softmax over the last axis. */
  logSoftmax(x: TapeValue): TapeValue {
    // dx = g - softmax(x) sum(g)
    return this.unary(
      x,
      'LogSoftmax',
      (g, y) => this.g.op1('Sub', [g, this.g.op1('Mul', [this.g.op1('Exp', [y]), this.g.op1('ReduceSum', [g, this.g.constInt64([-1])], { keepdims: 1 })])]),
      { axis: -1 },
    );
  }

  // --- products and reductions -------------------------------------------------------------

  /** NumPy matmul; a 2-D constant right operand (a weight [k, n]) pulls back with one Gemm and no transposed copy. */
  matmul(a: TapeValue, b: TapeValue): TapeValue {
    const shape = matmulShape(a.shape, b.shape);
    const y = this.g.op1('MatMul', [a.name, b.name]);
    return this.record([a, b], [{ name: y, shape }], ([g]) => this.matmulPullback(a, b, shape, g!))[0]!;
  }

  /**
   * a · b plus a constant bias (of no gradient), its value named `value` in the graph: a product the
   * forward pass computed already and fed to a backward graph as an input, so the backward reads it
   * instead of recomputing it. Pulls back as matmul.
   */
  savedProduct(value: string, a: TapeValue, b: TapeValue): TapeValue {
    const shape = matmulShape(a.shape, b.shape);
    return this.record([a, b], [{ name: value, shape }], ([g]) => this.matmulPullback(a, b, shape, g!))[0]!;
  }

  private matmulPullback(a: TapeValue, b: TapeValue, shape: readonly Dim[], g: string): Array<string | null> {
    let ga: string | null = null;
    if (a.differentiable) {
      if (!b.differentiable && b.shape.length === 2) {
        const rows = this.g.op1('Reshape', [g, this.g.constInt64([-1, b.shape[1] as number])]);
        const back = this.g.op1('Gemm', [rows, b.name], { transB: 1 }); // [rows, k]
        ga = this.g.op1('Reshape', [back, this.g.op1('Shape', [a.name])]);
      } else {
        ga = this.sumTo(
          this.g.op1('MatMul', [g, this.g.op1('Transpose', [b.name], { perm: swapLast(b.shape.length) })]),
          matmulShape(shape, swapDims(b.shape)),
          a,
        );
      }
    }
    const gb = b.differentiable
      ? this.sumTo(this.g.op1('MatMul', [this.g.op1('Transpose', [a.name], { perm: swapLast(a.shape.length) }), g]), matmulShape(swapDims(a.shape), shape), b)
      : null;
    return [ga, gb];
  }

  /** a [m, k] times w [n, k] transposed: [m, n] (the unembedding, without a transposed copy of it). */
  matmulTransposed(a: TapeValue, w: TapeValue, bias?: TapeValue): TapeValue {
    if (a.shape.length !== 2 || w.shape.length !== 2 || w.differentiable) throw new Error('tape: matmulTransposed takes 2-D operands and a constant right one');
    const y = this.g.op1('Gemm', [a.name, w.name, ...(bias ? [bias.name] : [])], { transB: 1 });
    return this.record([a], [{ name: y, shape: [a.shape[0]!, w.shape[0]!] }], ([g]) => [this.g.op1('MatMul', [g!, w.name])])[0]!;
  }

  reduceSum(x: TapeValue, axes: readonly number[], keepdims = true): TapeValue {
    return this.reduce(x, axes, keepdims, 'ReduceSum', 1);
  }

  reduceMean(x: TapeValue, axes: readonly number[]): TapeValue {
    const n = axes.map((a) => x.shape[norm(a, x.shape.length)]!);
    if (n.some((d) => typeof d !== 'number')) throw new Error('tape: reduceMean over a symbolic dim');
    return this.reduce(x, axes, true, 'ReduceMean', 1 / (n as number[]).reduce((p, q) => p * q, 1));
  }

  private reduce(x: TapeValue, axes: readonly number[], keepdims: boolean, op: string, factor: number): TapeValue {
    const rank = x.shape.length;
    const normAxes = axes.map((a) => norm(a, rank));
    const keptShape = x.shape.map((d, i) => (normAxes.includes(i) ? 1 : d));
    const shape = keepdims ? keptShape : x.shape.filter((_, i) => !normAxes.includes(i));
    const y = this.g.op1(op, [x.name, this.g.constInt64(normAxes)], { keepdims: keepdims ? 1 : 0 });
    return this.record([x], [{ name: y, shape }], ([g]) => {
      let gk = keepdims ? g! : this.g.op1('Unsqueeze', [g!, this.g.constInt64(normAxes)]);
      if (factor !== 1) gk = this.g.op1('Mul', [gk, this.g.constFloat([factor], [])]);
      return [this.g.op1('Expand', [gk, this.g.op1('Shape', [x.name])])];
    })[0]!;
  }

  // --- layout ----------------------------------------------------------------------------

  transpose(x: TapeValue, perm: readonly number[]): TapeValue {
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const y = this.g.op1('Transpose', [x.name], { perm: [...perm] });
    return this.record([x], [{ name: y, shape: perm.map((p) => x.shape[p]!) }], ([g]) => [this.g.op1('Transpose', [g!], { perm: inverse })])[0]!;
  }

  reshape(x: TapeValue, dims: readonly Dim[]): TapeValue {
    const y = this.g.op1('Reshape', [x.name, this.shapeOf(dims)]);
    return this.record([x], [{ name: y, shape: dims }], ([g]) => [this.g.op1('Reshape', [g!, this.g.op1('Shape', [x.name])])])[0]!;
  }

  unsqueeze(x: TapeValue, axis: number): TapeValue {
    const shape = [...x.shape];
    shape.splice(axis, 0, 1);
    const y = this.g.op1('Unsqueeze', [x.name, this.g.constInt64([axis])]);
    return this.record([x], [{ name: y, shape }], ([g]) => [this.g.op1('Squeeze', [g!, this.g.constInt64([axis])])])[0]!;
  }

  /** Broadcasts x to `dims` (NumPy rules); its gradient sums the copies. */
  expand(x: TapeValue, dims: readonly Dim[]): TapeValue {
    const y = this.g.op1('Expand', [x.name, this.shapeOf(dims)]);
    return this.record([x], [{ name: y, shape: dims }], ([g]) => [this.sumTo(g!, dims, x)])[0]!;
  }

  /** Splits x along `axis` into pieces of the given sizes. */
  split(x: TapeValue, axis: number, sizes: readonly number[]): TapeValue[] {
    const names = this.g.op('Split', [x.name, this.g.constInt64(sizes)], { axis }, sizes.length);
    const outs = sizes.map((s, i) => ({ name: names[i]!, shape: x.shape.map((d, j) => (j === axis ? s : d)) }));
    return this.record([x], outs, (grads) => {
      // A piece no gradient reached contributes zeros of its shape.
      const parts = grads.map((g, i) => g ?? this.g.op1('Mul', [names[i]!, this.g.constFloat([0], [])]));
      return [this.g.op1('Concat', parts, { axis })];
    });
  }

  /** Concatenates values along `axis` (each of a known size there); the gradient splits back. */
  concat(xs: readonly TapeValue[], axis: number): TapeValue {
    const a = norm(axis, xs[0]!.shape.length);
    const sizes = xs.map((x) => x.shape[a]);
    if (sizes.some((s) => typeof s !== 'number')) throw new Error('tape: concat along a symbolic dim');
    const total = (sizes as number[]).reduce((p, q) => p + q, 0);
    const y = this.g.op1(
      'Concat',
      xs.map((x) => x.name),
      { axis: a },
    );
    return this.record(xs, [{ name: y, shape: xs[0]!.shape.map((d, j) => (j === a ? total : d)) }], ([g]) =>
      this.g.op('Split', [g!, this.g.constInt64(sizes as number[])], { axis: a }, xs.length),
    )[0]!;
  }

  /**
   * RoPE's rotate_half over the last axis (of even size n): (x1, x2) -> (-x2, x1) for the halves x1, x2.
   * It is a rotation by a quarter turn in each plane (j, j + n / 2), so its transpose, the pullback, is minus itself.
   */
  rotateHalf(x: TapeValue): TapeValue {
    const n = x.shape[x.shape.length - 1];
    if (typeof n !== 'number' || n % 2 !== 0) throw new Error('tape: rotateHalf needs an even last axis of known size');
    const turn = (v: string): string => {
      const [x1, x2] = this.g.op('Split', [v, this.g.constInt64([n / 2, n / 2])], { axis: -1 }, 2) as [string, string];
      return this.g.op1('Concat', [this.g.op1('Neg', [x2]), x1], { axis: -1 });
    };
    const y = turn(x.name);
    return this.record([x], [{ name: y, shape: x.shape }], ([g]) => [this.g.op1('Neg', [turn(g!)])])[0]!;
  }

  // --- gradient control ---------------------------------------------------------------------

  /** A copy of x whose gradient is the gradient of this use alone (a split input, e.g. an MLP's own copy of the residual). */
  identity(x: TapeValue): TapeValue {
    const y = this.g.op1('Identity', [x.name]);
    return this.record([x], [{ name: y, shape: x.shape }], ([g]) => [g ?? null])[0]!;
  }

  /**
   * x as a constant of the backward pass (a frozen attention pattern or norm scale): gradients
   * reach the copy, so its own gradient is known, but stop there.
   */
  freeze(x: TapeValue): TapeValue {
    const y = this.g.op1('Identity', [x.name]);
    return this.record([x], [{ name: y, shape: x.shape }], () => [null])[0]!;
  }

  /** x in the forward; the gradient flowing back is multiplied by `gate` (per batch row, e.g. [b, 1, 1]): GradDrop. */
  gradientGate(x: TapeValue, gate: TapeValue): TapeValue {
    const y = this.g.op1('Identity', [x.name]);
    return this.record([x], [{ name: y, shape: x.shape }], ([g]) => [this.g.op1('Mul', [g!, gate.name])])[0]!;
  }

  // --- backward -----------------------------------------------------------------------------

  /**
   * Emits the backward pass for output gradients `seeds` (value, gradient value name). Afterwards
   * `gradient(v)` names the gradient of any differentiable value.
   */
  backward(seeds: ReadonlyArray<readonly [TapeValue, string]>): void {
    const pending = new Map<string, string[]>();
    const push = (name: string, g: string): void => {
      const list = pending.get(name);
      if (list) list.push(g);
      else pending.set(name, [g]);
    };
    for (const [v, g] of seeds) push(v.name, g);
    const total = (name: string): string | null => {
      const done = this.grads.get(name);
      if (done !== undefined) return done;
      const list = pending.get(name);
      if (!list) return null;
      const sum = list.reduce((acc, g) => this.g.op1('Add', [acc, g]));
      this.grads.set(name, sum);
      return sum;
    };
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      const outGrads = r.outputs.map((o) => total(o.name));
      if (outGrads.every((g) => g === null)) continue;
      const inGrads = r.pullback(outGrads);
      r.inputs.forEach((input, j) => {
        const g = inGrads[j];
        if (input.differentiable && g !== null && g !== undefined) push(input.name, g);
      });
    }
    for (const name of pending.keys()) total(name);
  }

  /** The gradient of `v` after backward; zeros of its shape when none reached it. */
  gradient(v: TapeValue): string {
    return this.grads.get(v.name) ?? this.g.op1('Mul', [v.name, this.g.constFloat([0], [])]);
  }

  /** Sums a gradient of shape `gShape` over the axes `x` was broadcast along, back to x's shape (null when x takes no gradient). */
  private sumTo(g: string, gShape: readonly Dim[], x: TapeValue): string | null {
    if (!x.differentiable) return null;
    const lead = gShape.length - x.shape.length;
    const axes: number[] = [];
    gShape.forEach((d, i) => {
      if (i < lead) axes.push(i);
      else if (x.shape[i - lead] === 1 && d !== 1) axes.push(i);
    });
    if (axes.length === 0) return g;
    return this.g.op1('Reshape', [this.g.op1('ReduceSum', [g, this.g.constInt64(axes)], { keepdims: 1 }), this.g.op1('Shape', [x.name])]);
  }
}

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function broadcastShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[i - (rank - a.length)] ?? 1;
    const db = b[i - (rank - b.length)] ?? 1;
    if (da === 1) return db;
    if (db === 1 || da === db) return da;
    if (typeof da === 'number' && typeof db === 'number') throw new Error(`tape: cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
    return typeof da === 'number' ? db : da;
  });
}

function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const batch = broadcastShape(a.slice(0, -2), b.slice(0, -2));
  return [...batch, a[a.length - 2]!, b[b.length - 1]!];
}

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 1], perm[rank - 2]] = [perm[rank - 2]!, perm[rank - 1]!];
  return perm;
}

function swapDims(shape: readonly Dim[]): Dim[] {
  const s = [...shape];
  [s[s.length - 1], s[s.length - 2]] = [s[s.length - 2]!, s[s.length - 1]!];
  return s;
}
