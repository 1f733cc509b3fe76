/**
 * A small builder for ONNX graphs. Weights are not copied into the protobuf: each initializer is
 * declared as ONNX external data that names a buffer of the checkpoint's float32 arrays, handed to
 * onnxruntime-node through `SessionOptions.externalData` as it is, or written by
 * runtime/initializer-files.ts into a file that ONNX Runtime maps.
 */
import { AttributeType, DataType, onnxModelType } from './onnx-proto.js';

export type Dim = number | string;
type ElemType = 'float' | 'int64' | 'bool';

/** ONNX Runtime's contrib operator domain (fused kernels such as FastGelu). */
export const MS_DOMAIN = 'com.microsoft';
type AttrValue = number | number[] | string | { floats: number[] } | { float: number } | { graph: Record<string, unknown> };

interface NodeMessage {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: Array<Record<string, unknown>>;
  domain: string;
}

export interface ExternalWeight {
  /** Virtual file name matched by SessionOptions.externalData. */
  path: string;
  data: Uint8Array;
}

export interface BuiltGraph {
  model: Uint8Array;
  /** Initializers' data, for SessionOptions.externalData (mode 'initializers'). */
  externalData: ExternalWeight[];
  /** Weights fed as graph inputs on every run (mode 'inputs'), by input name. */
  weightFeeds: Map<string, { data: Float32Array; dims: number[] }>;
}

/**
 * How weights reach ONNX Runtime: as initializers (ONNX Runtime copies them into its own memory
 * and may pre-pack them), or as graph inputs fed on every run from the JavaScript arrays
 * (onnxruntime-node wraps input buffers without copying, so the weights exist once in memory).
 */
export type WeightMode = 'initializers' | 'inputs';

/** ONNX opset of the graphs: 23 for the Attention operator (ONNX Runtime 1.22 and later runs it). */
export const OPSET = 23;

export class GraphBuilder {
  private readonly nodes: NodeMessage[] = [];
  private readonly initializers: Array<Record<string, unknown>> = [];
  private readonly inputs: Array<Record<string, unknown>> = [];
  private readonly outputs: Array<Record<string, unknown>> = [];
  private readonly domains: Set<string>;
  /** Shared with subgraphs: ONNX names must be unique across a model's graphs. */
  private readonly counter: { next: number };
  private readonly external: ExternalWeight[];
  private readonly weightFeeds: Map<string, { data: Float32Array; dims: number[] }>;

  constructor(
    private readonly name: string,
    private readonly weightMode: WeightMode = 'initializers',
    parent?: GraphBuilder,
  ) {
    this.counter = parent?.counter ?? { next: 0 };
    this.domains = parent?.domains ?? new Set();
    this.external = parent?.external ?? [];
    this.weightFeeds = parent?.weightFeeds ?? new Map();
  }

  /** A fresh intermediate value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}__${this.counter.next++}`;
  }

  /**
   * An If node named `outputs`: `thenBranch` and `elseBranch` build subgraphs (which may read any
   * value of this graph) returning as many float values; only the taken branch runs.
   */
  ifElse(cond: string, outputs: readonly string[], thenBranch: (sub: GraphBuilder) => string[], elseBranch: (sub: GraphBuilder) => string[]): string[] {
    const count = outputs.length;
    const branch = (label: string, build: (sub: GraphBuilder) => string[]): { graph: Record<string, unknown> } => {
      const sub = new GraphBuilder(this.fresh(label), this.weightMode, this);
      const outs = build(sub);
      if (outs.length !== count) throw new Error(`If branch ${label} returns ${outs.length} values, expected ${count}`);
      // A branch output must be produced in the branch: pass outer values through Identity.
      const made = new Set(sub.nodes.flatMap((n) => n.output));
      const named = outs.map((o) => (made.has(o) ? o : sub.op1('Identity', [o])));
      for (const o of named) sub.output(o, 'float', null);
      return { graph: sub.graphObject() };
    };
    return this.op('If', [cond], { then_branch: branch('then', thenBranch), else_branch: branch('else', elseBranch) }, outputs);
  }

  /** This graph as a GraphProto object (the body of `build()`, or a subgraph attribute). */
  private graphObject(): Record<string, unknown> {
    return { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }

  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output; `dims` null leaves its shape unstated (subgraph outputs). */
  output(name: string, elemType: ElemType, dims: readonly Dim[] | null): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A float32 initializer backed by `data` without copying it (ONNX external data in memory). */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`weight ${name}: dims [${dims.join(',')}] need ${size} values, got ${data.length}`);
    if (this.weightMode === 'inputs') {
      this.inputs.push(valueInfo(name, 'float', dims));
      this.weightFeeds.set(name, { data, dims: [...dims] });
      return name;
    }
    const path = `w${this.external.length}.bin`;
    this.external.push({ path, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    this.initializers.push({
      name,
      dims,
      data_type: DataType.FLOAT,
      data_location: 1, // EXTERNAL
      external_data: [
        { key: 'location', value: path },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(data.byteLength) },
      ],
    });
    return name;
  }

  /** A small constant stored inline in the protobuf. */
  constFloat(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh('const');
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, float_data: values });
    return name;
  }

  constInt64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh('const');
    this.initializers.push({ name, dims, data_type: DataType.INT64, int64_data: values });
    return name;
  }

  /** Adds a node; returns its output names (fresh ones unless given). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs?: readonly string[] | number, domain = ''): string[] {
    const outs = Array.isArray(outputs) ? [...outputs] : Array.from({ length: typeof outputs === 'number' ? outputs : 1 }, () => this.fresh(opType));
    this.nodes.push({
      input: [...inputs],
      output: outs,
      name: this.fresh(`n_${opType}`),
      op_type: opType,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
      domain,
    });
    if (domain !== '') this.domains.add(domain);
    return outs;
  }

  /** Single-output convenience form of `op`. */
  op1(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.op(opType, inputs, attrs, output === undefined ? 1 : [output])[0]!;
  }

  /** Single-output form of `op` for an ONNX Runtime contrib operator (domain com.microsoft). */
  contrib1(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.op(opType, inputs, attrs, output === undefined ? 1 : [output], MS_DOMAIN)[0]!;
  }

  build(): BuiltGraph {
    const type = onnxModelType();
    const message = type.fromObject({
      ir_version: 11,
      producer_name: 'circuit-trace',
      producer_version: '0.1.0',
      opset_import: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: this.graphObject(),
    });
    return { model: type.encode(message).finish(), externalData: this.external, weightFeeds: this.weightFeeds };
  }
}

const ELEM_TYPES: Record<ElemType, number> = { float: DataType.FLOAT, int64: DataType.INT64, bool: DataType.BOOL };

function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[] | null): Record<string, unknown> {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: ELEM_TYPES[elemType],
        ...(dims === null ? {} : { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } }),
      },
    },
  };
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  if ('graph' in v) return { name, type: AttributeType.GRAPH, g: v.graph };
  return { name, type: AttributeType.FLOAT, f: v.float };
}
