/**
 * The `@circuit` hypotheses of a parsed `.prompt` file as engine requests, and their verdicts: what
 * `circuit-trace prompts FILE --check` runs and prints. A hypothesis whose check fails with an
 * engine error (a head the model lacks, prompts of different lengths) is a failed hypothesis that
 * carries the error's message, so one bad line does not hide the verdicts of the others.
 */
import type { CircuitCheckRequest, CircuitCheckResult } from '../../protocol/circuit-check.js';
import type { TokenRef } from '../../protocol/engine.js';
import { isEngineError } from '../errors.js';
import { circuitNodeName } from '../prompt-file/circuit-directive.js';
import type { CircuitHypothesis, PromptEntry, PromptFile, TokenValue } from '../prompt-file/parser.js';

function tokenRef(value: TokenValue | null): TokenRef | undefined {
  if (!value) return undefined;
  return value.kind === 'id' ? { id: value.id } : { text: value.text };
}

/** The engine request of one hypothesis of `prompt` (which has a @corrupt: the parser makes that an error otherwise). */
export function circuitCheckRequest(prompt: PromptEntry, hypothesis: CircuitHypothesis, prependBos?: boolean): CircuitCheckRequest {
  const target = tokenRef(prompt.target);
  const contrast = tokenRef(prompt.contrast);
  return {
    clean: prompt.text,
    corrupt: prompt.corrupt?.text ?? '',
    ...(prependBos !== undefined ? { prependBos } : {}),
    ...(target ? { target } : {}),
    ...(contrast ? { contrast } : {}),
    ...(prompt.metric ? { metric: { kind: prompt.metric.kind, startYear: prompt.metric.startYear } } : {}),
    nodes: hypothesis.nodes.map(circuitNodeName),
    threshold: hypothesis.threshold,
  };
}

/** One hypothesis's verdict: the check's result, or the error that stopped it (then it did not hold). */
export interface HypothesisVerdict {
  prompt: string;
  /** One-based line of the `@circuit` directive. */
  line: number;
  nodes: string[];
  threshold: number;
  passed: boolean;
  result: CircuitCheckResult | null;
  error: string | null;
}

/** Checks every hypothesis of the file's prompts in file order with `check` (the file is free of errors). */
export async function checkFileCircuits(
  file: PromptFile,
  check: (request: CircuitCheckRequest) => Promise<CircuitCheckResult>,
  prependBos?: boolean,
): Promise<HypothesisVerdict[]> {
  const verdicts: HypothesisVerdict[] = [];
  for (const prompt of file.prompts) {
    for (const hypothesis of prompt.circuits) {
      const base = {
        prompt: prompt.name,
        line: hypothesis.range.start.line + 1,
        nodes: hypothesis.nodes.map(circuitNodeName),
        threshold: hypothesis.threshold,
      };
      try {
        const result = await check(circuitCheckRequest(prompt, hypothesis, prependBos));
        verdicts.push({ ...base, passed: result.passed, result, error: null });
      } catch (error) {
        if (!isEngineError(error) || error.code === 'INTERNAL' || error.code === 'UNSUPPORTED_ARCHITECTURE') throw error;
        verdicts.push({ ...base, passed: false, result: null, error: error.message });
      }
    }
  }
  return verdicts;
}

/** A fraction as a percentage: 0.8 → "80%", 0.925 → "92.5%". */
export function formatThreshold(threshold: number): string {
  return `${Number((threshold * 100).toFixed(4))}%`;
}

/** A measured faithfulness: 0.8423 → "84.2%"; NaN (the clean and corrupted metrics agree) → "undefined". */
export function formatFaithfulness(faithfulness: number): string {
  return Number.isFinite(faithfulness) ? `${(faithfulness * 100).toFixed(1)}%` : 'undefined';
}
