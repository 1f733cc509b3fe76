/**
 * What the hover over a token of an analysed prompt says: the token's text and id, the model's top
 * next tokens at that position, and the heads that attend most strongly from it.
 * Pure: no vscode import; the provider wraps the Markdown in a vscode.Hover.
 */
import type { AnalysisResult, HeadSummary, TokenInfo } from '../../protocol/analysis.js';
import type { SourcePosition, SourceRange } from './parser.js';
import { comparePositions } from './parser.js';
import { formatPercent, markdownCode, quoteToken } from '../format/token-text.js';
import { escapeMarkdown } from '../format/markdown-text.js';

/** The index in `tokens` of the token whose source span holds `position`, and that span. */
export function tokenAt(
  tokens: readonly TokenInfo[],
  textMap: readonly SourcePosition[],
  position: SourcePosition,
): { index: number; range: SourceRange } | undefined {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as TokenInfo;
    // Tokens without text in the prompt (a prepended BOS) have no place in the document.
    if (token.end <= token.start) continue;
    const start = textMap[token.start];
    const lastChar = textMap[token.end - 1];
    if (!start || !lastChar) continue;
    const end = { line: lastChar.line, character: lastChar.character + 1 };
    if (comparePositions(start, position) <= 0 && comparePositions(position, end) < 0) return { index: i, range: { start, end } };
  }
  return undefined;
}

export interface AttendingHead {
  layer: number;
  head: number;
  /** Key position it attends to most (sink excluded). */
  key: number;
  weight: number;
}

/**
 * Heads ranked by their largest attention weight from `query` to any key, leaving out key 0 for
 * queries after it: nearly every head parks attention on the first token (an attention sink),
 * which says nothing about this token. `attention` is [layer, head, query, key].
 */
export function headsAttendingFrom(attention: Float32Array, nLayers: number, nHeads: number, nTokens: number, query: number, limit: number): AttendingHead[] {
  if (query <= 0 || query >= nTokens) return [];
  const expected = nLayers * nHeads * nTokens * nTokens;
  if (attention.length !== expected) {
    throw new RangeError(`Attention has ${attention.length} values; [${nLayers}, ${nHeads}, ${nTokens}, ${nTokens}] needs ${expected}.`);
  }
  const heads: AttendingHead[] = [];
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < nHeads; h++) {
      const row = ((l * nHeads + h) * nTokens + query) * nTokens;
      let best = 1;
      let bestWeight = -Infinity;
      for (let k = 1; k <= query; k++) {
        const w = attention[row + k] as number;
        if (w > bestWeight) {
          bestWeight = w;
          best = k;
        }
      }
      heads.push({ layer: l, head: h, key: best, weight: bestWeight });
    }
  }
  heads.sort((a, b) => b.weight - a.weight || a.layer - b.layer || a.head - b.head);
  return heads.slice(0, limit);
}

export interface HoverOptions {
  topPredictions: number;
  topHeads: number;
}

/** Inline code inside a Markdown table cell: a pipe would end the cell, so it is escaped. */
function cellCode(text: string): string {
  return markdownCode(text).replace(/\|/g, '\\|');
}

function headLabel(heads: readonly HeadSummary[], layer: number, head: number): string {
  const summary = heads.find((s) => s.layer === layer && s.head === head);
  return summary ? summary.label : '';
}

export function tokenHoverMarkdown(result: AnalysisResult, index: number, options: HoverOptions): string {
  const token = result.tokens[index];
  if (!token) throw new RangeError(`No token ${index} in a ${result.tokens.length}-token result.`);
  const lines: string[] = [];
  // Positions follow the result's BOS convention; say so when the BOS shifts them by one.
  const position = result.prependBos ? `position ${index} (the BOS is position 0)` : `position ${index}`;
  const name = token.bos ? `BOS ${markdownCode(quoteToken(token.text))}` : markdownCode(quoteToken(token.text));
  lines.push(`**${name}** · token id ${token.id} · ${position} · ${escapeMarkdown(result.model.displayName)}`);
  lines.push('');
  if (token.approximateSpan) {
    lines.push("_This model's tokenizer changes the text before splitting it, so where its tokens sit in the prompt is approximate._");
    lines.push('');
  }

  const predictions = result.predictionsPerPosition?.[index];
  if (predictions && predictions.length > 0) {
    lines.push('**Top next tokens here**');
    lines.push('');
    lines.push('| next token | probability |');
    lines.push('|---|---:|');
    for (const p of predictions.slice(0, options.topPredictions)) lines.push(`| ${cellCode(quoteToken(p.token))} | ${formatPercent(p.prob)} |`);
  } else {
    lines.push('_Next-token predictions at this position were not computed for this run._');
  }
  lines.push('');

  const { nLayers, nHeads } = result.model;
  const n = result.tokens.length;
  if (index === 0) {
    lines.push('_The first token can only attend to itself._');
  } else {
    const heads = headsAttendingFrom(result.attention, nLayers, nHeads, n, index, options.topHeads);
    const sink = result.prependBos ? 'the BOS at position 0' : 'first token';
    lines.push(`**Heads attending most strongly from this token** (${sink}, an attention sink, left out)`);
    lines.push('');
    lines.push('| head | attends to | weight | class |');
    lines.push('|---|---|---:|---|');
    for (const h of heads) {
      const key = result.tokens[h.key];
      const keyText = key ? `${cellCode(quoteToken(key.text))} (${h.key})` : String(h.key);
      lines.push(`| L${h.layer}H${h.head} | ${keyText} | ${h.weight.toFixed(2)} | ${headLabel(result.heads, h.layer, h.head)} |`);
    }
  }
  return lines.join('\n');
}
