/**
 * The problems shown in a `.prompt` file: parse errors, and the rules that need the model's
 * tokenizer (a target or contrast that is not one token, a corrupted prompt of another token
 * length, a prompt over circuitTrace.maxTokens, a token id outside the vocabulary).
 * Pure: no vscode import; the extension turns these into vscode.Diagnostics.
 */
import type { TokenInfo } from '../../protocol/analysis.js';
import type { ParseWarningCode, PromptEntry, PromptFile, SourceRange, TokenValue } from './parser.js';
import { quoteToken } from '../format/token-text.js';

export type RuleSeverity = 'error' | 'warning' | 'information';

export type RuleCode =
  | 'parse'
  | 'not-single-token'
  | 'token-id-out-of-range'
  | 'corrupt-length-mismatch'
  | 'prompt-too-long'
  | 'corrupt-too-long'
  | 'circuit-node-missing'
  | ParseWarningCode;

export interface RuleDiagnostic {
  range: SourceRange;
  severity: RuleSeverity;
  message: string;
  code: RuleCode;
}

/** How the model's tokenizer split each text of one prompt (absent: that text does not exist). */
export interface PromptTokenization {
  text: TokenInfo[];
  target?: TokenInfo[];
  contrast?: TokenInfo[];
  corrupt?: TokenInfo[];
}

export interface TokenLimits {
  maxTokens: number;
  /** Vocabulary size, to check token ids. */
  dVocab: number;
  /** Shown in messages, e.g. "GPT-2 small". */
  modelName: string;
  /** The BOS the engine prepends to a text prompt (bosToPrepend), null for none: it counts towards maxTokens. */
  prependBosId: number | null;
}

/** A text's length as the engine counts it against maxTokens, and how to say it. */
function countedLength(tokens: number, limits: TokenLimits): { count: number; said: string } {
  return limits.prependBosId === null ? { count: tokens, said: `${tokens} tokens long` } : { count: tokens + 1, said: `${tokens + 1} tokens with the BOS` };
}

export function parseDiagnostics(file: PromptFile): RuleDiagnostic[] {
  const errors = file.errors.map((e): RuleDiagnostic => ({ range: e.range, severity: 'error', message: e.message, code: 'parse' }));
  return [...errors, ...file.warnings.map((w): RuleDiagnostic => ({ range: w.range, severity: 'warning', message: w.message, code: w.code }))];
}

function describeTokens(tokens: readonly TokenInfo[]): string {
  return tokens.map((t) => quoteToken(t.text)).join(' + ');
}

function tokenRule(directive: 'target' | 'contrast', value: TokenValue | null, tokens: TokenInfo[] | undefined, limits: TokenLimits): RuleDiagnostic | null {
  if (!value) return null;
  if (value.kind === 'id') {
    if (value.id >= limits.dVocab) {
      return {
        range: value.range,
        severity: 'error',
        code: 'token-id-out-of-range',
        message: `@${directive} token id ${value.id} is outside ${limits.modelName}'s vocabulary (ids 0–${limits.dVocab - 1}).`,
      };
    }
    return null;
  }
  if (!tokens || tokens.length === 1) return null;
  const how = tokens.length === 0 ? 'encodes to no token at all' : `is ${tokens.length} tokens for ${limits.modelName}: ${describeTokens(tokens)}`;
  return {
    range: value.range,
    severity: 'error',
    code: 'not-single-token',
    message: `@${directive} ${quoteToken(value.text)} must be a single token, but it ${how}. Use a single token (often the first one, with its leading space) or a token id.`,
  };
}

/** The tokenizer-dependent rules for one prompt. */
export function tokenDiagnostics(prompt: PromptEntry, tokenization: PromptTokenization, limits: TokenLimits): RuleDiagnostic[] {
  const out: RuleDiagnostic[] = [];
  const textLength = tokenization.text.length;
  const counted = countedLength(textLength, limits);
  if (prompt.textRange && counted.count > limits.maxTokens) {
    out.push({
      range: prompt.textRange,
      severity: 'error',
      code: 'prompt-too-long',
      message: `This prompt is ${counted.said} for ${limits.modelName}, over the limit of ${limits.maxTokens} (setting circuitTrace.maxTokens). Shorten it or raise the limit.`,
    });
  }
  for (const directive of ['target', 'contrast'] as const) {
    const rule = tokenRule(directive, prompt[directive], tokenization[directive], limits);
    if (rule) out.push(rule);
  }
  if (prompt.corrupt && tokenization.corrupt) {
    const corruptLength = tokenization.corrupt.length;
    if (corruptLength !== textLength) {
      out.push({
        range: prompt.corrupt.range,
        severity: 'error',
        code: 'corrupt-length-mismatch',
        message: `The corrupted prompt is ${corruptLength} tokens long but the prompt is ${textLength} tokens long; activation patching needs both to have the same token length.`,
      });
    } else if (counted.count > limits.maxTokens) {
      out.push({
        range: prompt.corrupt.range,
        severity: 'error',
        code: 'corrupt-too-long',
        message: `The corrupted prompt is ${counted.said}, over the limit of ${limits.maxTokens} (setting circuitTrace.maxTokens).`,
      });
    }
  }
  return out;
}

/** The loaded model's shape, for the nodes a `@circuit` names. */
export interface CircuitShape {
  nLayers: number;
  nHeads: number;
  modelName: string;
}

/** `@circuit` nodes the loaded model does not have (a head or layer past its last), each named on its own range. */
export function circuitNodeDiagnostics(prompt: PromptEntry, shape: CircuitShape): RuleDiagnostic[] {
  const out: RuleDiagnostic[] = [];
  for (const hypothesis of prompt.circuits) {
    for (const node of hypothesis.nodes) {
      if (node.layer < shape.nLayers && (node.kind === 'mlp' || node.head < shape.nHeads)) continue;
      const name = node.kind === 'mlp' ? `mlp${node.layer}` : `L${node.layer}H${node.head}`;
      out.push({
        range: node.range,
        severity: 'error',
        code: 'circuit-node-missing',
        message: `${shape.modelName} has no ${node.kind === 'mlp' ? 'MLP' : 'head'} ${name}: it has layers 0–${shape.nLayers - 1} with heads 0–${shape.nHeads - 1} each.`,
      });
    }
  }
  return out;
}

/** Every distinct string of a prompt that the tokenizer rules need encoded. */
export function stringsToTokenize(prompt: PromptEntry): string[] {
  const strings = [prompt.text];
  if (prompt.target?.kind === 'text') strings.push(prompt.target.text);
  if (prompt.contrast?.kind === 'text') strings.push(prompt.contrast.text);
  if (prompt.corrupt) strings.push(prompt.corrupt.text);
  return [...new Set(strings)];
}

/** Assembles a prompt's tokenization from a lookup of already-encoded strings. */
export function tokenizationOf(prompt: PromptEntry, encoded: ReadonlyMap<string, TokenInfo[]>): PromptTokenization | null {
  const text = encoded.get(prompt.text);
  if (!text) return null;
  const result: PromptTokenization = { text };
  if (prompt.target?.kind === 'text') result.target = encoded.get(prompt.target.text);
  if (prompt.contrast?.kind === 'text') result.contrast = encoded.get(prompt.contrast.text);
  if (prompt.corrupt) result.corrupt = encoded.get(prompt.corrupt.text);
  return result;
}
