/**
 * Plain-JSON forms of the analysis results, for the CLI's `--json`, Export Analysis and anything
 * else that leaves the process: every typed array becomes `{ shape, data }` with `data` nested
 * number arrays in row-major order (so `data[layer][head][query][key]` reads as the shape names it),
 * and back.
 */
import type { AnalysisResult, CircuitTrace, PatchSweepResult, TokenFlow } from './analysis.js';
import { upgradeAnalysisJson, upgradePatchSweepJson } from './legacy-json.js';

/** A nested array of numbers, one nesting level per dimension. */
export type NestedNumbers = number | NestedNumbers[];

export interface JsonTensor {
  shape: number[];
  data: NestedNumbers;
}

export type CircuitTraceJson = Omit<CircuitTrace, 'heads' | 'mlp' | 'headBySource'> & {
  /** [layer, head] */
  heads: JsonTensor;
  /** [layer] */
  mlp: JsonTensor;
  /** [layer, head, key] */
  headBySource: JsonTensor;
};

export interface TokenFlowJson {
  /** [query, key] */
  total: JsonTensor;
  /** [layer, query, key] */
  perLayer: JsonTensor | null;
}

export type AnalysisResultJson = Omit<AnalysisResult, 'attention' | 'trace' | 'flow'> & {
  /** [layer, head, query, key] */
  attention: JsonTensor;
  trace: CircuitTraceJson;
  flow: TokenFlowJson;
};

/** A plain copy of a patch sweep: it holds no typed arrays, so this is a deep copy. */
export type PatchSweepResultJson = PatchSweepResult;

/** A flat row-major array as nested arrays of the given shape. */
export function toJsonTensor(data: ArrayLike<number>, shape: readonly number[]): JsonTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`toJsonTensor: shape [${shape.join(', ')}] needs ${size} values, got ${data.length}`);
  const nest = (dim: number, offset: number): NestedNumbers => {
    if (dim === shape.length) return Number(data[offset]);
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[dim]! }, (_, i) => nest(dim + 1, offset + i * stride));
  };
  return { shape: [...shape], data: nest(0, 0) };
}

/** The flat float32 array of a JSON tensor, checking that its nesting matches its shape (and `expected`, when given). */
export function fromJsonTensor(value: unknown, what: string, expected?: readonly number[]): Float32Array {
  if (typeof value !== 'object' || value === null || !('shape' in value) || !('data' in value)) throw new Error(`${what}: expected { shape, data }`);
  const { shape, data } = value as { shape: unknown; data: unknown };
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${what}: bad shape`);
  if (expected && (expected.length !== shape.length || expected.some((d, i) => d !== shape[i]))) {
    throw new Error(`${what}: shape [${shape.join(', ')}], expected [${expected.join(', ')}]`);
  }
  const out = new Float32Array(shape.reduce((a: number, b: number) => a * b, 1));
  let at = 0;
  const walk = (node: unknown, dim: number): void => {
    if (dim === shape.length) {
      // JSON writes NaN as null; keep it NaN rather than 0.
      out[at++] = node === null ? NaN : (node as number);
      if (node !== null && typeof node !== 'number') throw new Error(`${what}: a non-number entry`);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[dim]) throw new Error(`${what}: nesting does not match shape [${shape.join(', ')}]`);
    for (const child of node) walk(child, dim + 1);
  };
  walk(data, 0);
  return out;
}

function traceToJson(trace: CircuitTrace, nLayers: number, nHeads: number, n: number): CircuitTraceJson {
  const { heads, mlp, headBySource, ...plain } = trace;
  return {
    ...structuredClone(plain),
    heads: toJsonTensor(heads, [nLayers, nHeads]),
    mlp: toJsonTensor(mlp, [nLayers]),
    headBySource: toJsonTensor(headBySource, [nLayers, nHeads, n]),
  };
}

function flowToJson(flow: TokenFlow, nLayers: number, n: number): TokenFlowJson {
  return { total: toJsonTensor(flow.total, [n, n]), perLayer: flow.perLayer ? toJsonTensor(flow.perLayer, [nLayers, n, n]) : null };
}

export function analysisToJson(result: AnalysisResult): AnalysisResultJson {
  const { nLayers, nHeads } = result.model;
  const n = result.tokens.length;
  const { attention, trace, flow, ...plain } = result;
  return {
    ...structuredClone(plain),
    attention: toJsonTensor(attention, [nLayers, nHeads, n, n]),
    trace: traceToJson(trace, nLayers, nHeads, n),
    flow: flowToJson(flow, nLayers, n),
  };
}

/**
 * Reads back `analysisToJson`'s output (e.g. from an exported file), also as an earlier version
 * wrote it (old fields get the defaults documented in legacy-json.ts); throws an Error saying what
 * is wrong on anything else or on a shape mismatch.
 */
export function analysisFromJson(value: AnalysisResultJson | unknown): AnalysisResult {
  const json = upgradeAnalysisJson(value) as unknown as AnalysisResultJson;
  if (typeof json.trace !== 'object' || typeof json.flow !== 'object' || json.flow === null)
    throw new Error('Not a Circuit Trace result: trace or flow is missing.');
  const { nLayers, nHeads } = json.model;
  const n = json.tokens.length;
  const { attention, trace, flow, ...plain } = json;
  const { heads, mlp, headBySource, ...tracePlain } = trace;
  return {
    ...structuredClone(plain),
    attention: fromJsonTensor(attention, 'attention', [nLayers, nHeads, n, n]),
    trace: {
      ...structuredClone(tracePlain),
      heads: fromJsonTensor(heads, 'trace.heads', [nLayers, nHeads]),
      mlp: fromJsonTensor(mlp, 'trace.mlp', [nLayers]),
      headBySource: fromJsonTensor(headBySource, 'trace.headBySource', [nLayers, nHeads, n]),
    },
    flow: {
      total: fromJsonTensor(flow.total, 'flow.total', [n, n]),
      perLayer: flow.perLayer ? fromJsonTensor(flow.perLayer, 'flow.perLayer', [nLayers, n, n]) : null,
    },
  };
}

export function patchSweepToJson(result: PatchSweepResult): PatchSweepResultJson {
  return structuredClone(result);
}

/** Reads back `patchSweepToJson`'s output, also as an earlier version wrote it (see legacy-json.ts); throws an Error saying what is wrong otherwise. */
export function patchSweepFromJson(value: PatchSweepResultJson | unknown): PatchSweepResult {
  return structuredClone(upgradePatchSweepJson(value));
}
