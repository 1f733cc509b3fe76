/**
 * The value of a `@circuit` directive: a circuit hypothesis, the nodes it names and the share of
 * the clean − corrupted metric it must carry (docs/prompt-format.md, "Circuits"):
 *
 *   @circuit L9H6 L9H9 L10H0 ≥ 80%      (`>=` also; a // comment may follow)
 *   @circuit L0H0 L1H0 mlp1 >= 92.5%
 *
 * Nodes are heads `L<layer>H<head>` and MLPs `mlp<layer>`; whether they exist is checked against a
 * model later (circuits/circuit-check.ts), so a file parses the same whatever model is loaded.
 * Scanned by hand in one pass (see line-scan.ts), like every other part of a directive line. Pure.
 */
import { isAsciiDigits, skipNonWhitespace, skipWhitespace } from './line-scan.js';

export const CIRCUIT_EXAMPLE = '@circuit L9H6 L9H9 L10H0 ≥ 80%';

/** A node a hypothesis names: a head or an MLP. */
export type CircuitNode = { kind: 'head'; layer: number; head: number } | { kind: 'mlp'; layer: number };

/** A node with the columns [start, end) of its name in the line. */
export interface CircuitNodeAt {
  node: CircuitNode;
  start: number;
  end: number;
}

export type CircuitValueResult =
  | { ok: true; nodes: CircuitNodeAt[]; /** The least faithfulness that holds the hypothesis, a fraction 0..1. */ threshold: number; end: number }
  | { ok: false; code: 'bad-circuit-node' | 'bad-circuit-threshold' | 'malformed-directive'; message: string; start: number; end: number };

/** `L9H6` or `mlp3`, as the edge graph names them (src/engine/circuits/edge-graph.ts). */
export function circuitNodeName(node: CircuitNode): string {
  return node.kind === 'mlp' ? `mlp${node.layer}` : `L${node.layer}H${node.head}`;
}

/** Parses `L<digits>H<digits>` or `mlp<digits>`; null for anything else. */
export function parseCircuitNode(word: string): CircuitNode | null {
  if (word.startsWith('mlp')) {
    const layer = word.slice(3);
    return isAsciiDigits(layer) && layer.length <= 6 ? { kind: 'mlp', layer: Number(layer) } : null;
  }
  if (word[0] !== 'L') return null;
  const h = word.indexOf('H');
  if (h < 0) return null;
  const layer = word.slice(1, h);
  const head = word.slice(h + 1);
  if (!isAsciiDigits(layer) || !isAsciiDigits(head) || layer.length > 6 || head.length > 6) return null;
  return { kind: 'head', layer: Number(layer), head: Number(head) };
}

/** The comparator that starts `line` at `at`: its length, or 0 when there is none. */
function comparatorLength(line: string, at: number): number {
  if (line.startsWith('≥', at)) return 1;
  if (line.startsWith('>=', at)) return 2;
  return 0;
}

/** Reads the hypothesis from `valueStart` (the first non-blank character after `@circuit`) to the end of the line. */
export function readCircuitValue(line: string, valueStart: number): CircuitValueResult {
  const nodes: CircuitNodeAt[] = [];
  const seen = new Set<string>();
  let at = valueStart;
  while (at < line.length && comparatorLength(line, at) === 0 && !line.startsWith('//', at)) {
    const end = skipNonWhitespace(line, at);
    const word = line.slice(at, end);
    const node = parseCircuitNode(word);
    if (!node) {
      const message = word.startsWith('>')
        ? `@circuit compares with "≥" or ">=": the circuit must carry at least the threshold, e.g. ${CIRCUIT_EXAMPLE}.`
        : word.includes('≥') || word.includes('>=')
          ? `Put a space between the last node and "≥", e.g. ${CIRCUIT_EXAMPLE}.`
          : `"${word}" is not a circuit node: name heads as L<layer>H<head> (e.g. L9H6) and MLPs as mlp<layer> (e.g. mlp3).`;
      return { ok: false, code: word.includes('>') || word.includes('≥') ? 'malformed-directive' : 'bad-circuit-node', message, start: at, end };
    }
    const name = circuitNodeName(node);
    if (seen.has(name)) return { ok: false, code: 'bad-circuit-node', message: `@circuit names ${name} twice; name each node once.`, start: at, end };
    seen.add(name);
    nodes.push({ node, start: at, end });
    at = skipWhitespace(line, end);
  }
  if (nodes.length === 0) {
    return {
      ok: false,
      code: 'malformed-directive',
      message: `@circuit needs the nodes of the circuit before its threshold, e.g. ${CIRCUIT_EXAMPLE}.`,
      start: valueStart,
      end: line.length,
    };
  }
  const comparator = comparatorLength(line, at);
  if (comparator === 0) {
    return {
      ok: false,
      code: 'malformed-directive',
      message: `@circuit needs a threshold after its nodes: "≥" (or ">=") and a percentage, e.g. ${CIRCUIT_EXAMPLE}.`,
      start: valueStart,
      end: line.length,
    };
  }
  const thresholdStart = skipWhitespace(line, at + comparator);
  const thresholdEnd = skipNonWhitespace(line, thresholdStart);
  const written = line.slice(thresholdStart, thresholdEnd);
  const percent = percentValue(written);
  if (percent === null) {
    const missing = written === '' || written.startsWith('//');
    return {
      ok: false,
      code: 'bad-circuit-threshold',
      message: `${missing ? '@circuit needs a threshold' : `"${written}" is not a threshold`}: write a percentage from 0% to 100% after "≥", e.g. ${CIRCUIT_EXAMPLE}.`,
      start: missing ? at : thresholdStart,
      end: missing ? at + comparator : thresholdEnd,
    };
  }
  const after = skipWhitespace(line, thresholdEnd);
  if (after < line.length && !line.startsWith('//', after)) {
    return {
      ok: false,
      code: 'malformed-directive',
      message: 'Unexpected text after the threshold of @circuit; only a // comment may follow it.',
      start: thresholdEnd,
      end: line.length,
    };
  }
  return { ok: true, nodes, threshold: percent / 100, end: thresholdEnd };
}

/** `80%`, `92.5%`, `100%` → the number of percent; null unless it is a decimal from 0 to 100 followed by `%`. */
function percentValue(written: string): number | null {
  if (!written.endsWith('%')) return null;
  const number = written.slice(0, -1);
  const dot = number.indexOf('.');
  const whole = dot < 0 ? number : number.slice(0, dot);
  const fraction = dot < 0 ? '' : number.slice(dot + 1);
  if (!isAsciiDigits(whole) || (dot >= 0 && !isAsciiDigits(fraction)) || whole.length > 3) return null;
  const value = Number(number);
  return value <= 100 ? value : null;
}
