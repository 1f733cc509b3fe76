/**
 * Export Analysis as a self-contained HTML report: every figure is inline SVG or a table, styles
 * are inline, the full result is embedded as JSON (script#circuit-trace-data, the same form as the
 * JSON export), and a Content-Security-Policy forbids loading anything from anywhere.
 * Pure: no vscode import.
 */
import type { AnalysisResult, TokenInfo } from '../../protocol/analysis.js';
import { analysisToJson } from '../../protocol/json.js';
import { groupHeads } from '../views/head-groups.js';
import { formatPercent, formatSigned, quoteToken } from '../format/token-text.js';

export interface ReportOptions {
  /** When the report was made (ISO string shown in the header). */
  generatedAt: string;
  extensionVersion: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string);
}

/** JSON that is safe inside a <script> element: no "</script>", no line separators that break it. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function tok(t: TokenInfo | string): string {
  return escapeHtml(quoteToken(typeof t === 'string' ? t : t.text));
}

/** Emerald for positive, magenta for negative, opacity by magnitude relative to `max`. */
function divergingFill(value: number, max: number): string {
  const a = max > 0 ? Math.min(1, Math.abs(value) / max) : 0;
  return value >= 0 ? `rgba(16,185,129,${a.toFixed(3)})` : `rgba(217,70,239,${a.toFixed(3)})`;
}

function dlaHeatmap(result: AnalysisResult): string {
  const { nLayers, nHeads } = result.model;
  const cell = 22;
  const left = 44;
  const top = 22;
  const values = result.trace.heads; // [layer, head]
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  const rects: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < nHeads; h++) {
      const v = values[l * nHeads + h] ?? 0;
      rects.push(
        `<rect x="${left + h * cell}" y="${top + l * cell}" width="${cell - 2}" height="${cell - 2}" fill="${divergingFill(v, max)}" stroke="currentColor" stroke-opacity="0.15"><title>L${l}H${h}: ${formatSigned(v, 3)}</title></rect>`,
      );
    }
  }
  const headLabels = Array.from(
    { length: nHeads },
    (_, h) => `<text x="${left + h * cell + cell / 2 - 1}" y="${top - 6}" text-anchor="middle">H${h}</text>`,
  ).join('');
  const layerLabels = Array.from(
    { length: nLayers },
    (_, l) => `<text x="${left - 6}" y="${top + l * cell + cell / 2 + 3}" text-anchor="end">L${l}</text>`,
  ).join('');
  const width = left + nHeads * cell + 4;
  const height = top + nLayers * cell + 4;
  return `<svg class="figure" role="img" aria-label="Direct logit attribution per head" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="10" fill="currentColor">${headLabels}${layerLabels}${rects.join('')}</svg>`;
}

function attentionFigure(result: AnalysisResult, layer: number, head: number): string {
  const n = result.tokens.length;
  const { nHeads } = result.model;
  const cell = Math.max(8, Math.min(22, Math.floor(440 / Math.max(1, n))));
  const left = 110;
  const top = 110;
  const rects: string[] = [];
  const base = (layer * nHeads + head) * n * n; // [layer, head, query, key]
  for (let q = 0; q < n; q++) {
    for (let k = 0; k <= q; k++) {
      const w = result.attention[base + q * n + k] ?? 0;
      rects.push(
        `<rect x="${left + k * cell}" y="${top + q * cell}" width="${cell - 1}" height="${cell - 1}" fill="rgba(56,130,246,${Math.min(1, w).toFixed(3)})"><title>${tok(result.tokens[q] as TokenInfo)} → ${tok(result.tokens[k] as TokenInfo)}: ${w.toFixed(3)}</title></rect>`,
      );
    }
  }
  const label = (t: TokenInfo): string => escapeHtml(quoteToken(t.text).slice(0, 14));
  const rows = result.tokens.map((t, q) => `<text x="${left - 4}" y="${top + q * cell + cell / 2 + 3}" text-anchor="end">${label(t)}</text>`).join('');
  const cols = result.tokens.map((t, k) => `<text transform="translate(${left + k * cell + cell / 2 + 3},${top - 4}) rotate(-60)">${label(t)}</text>`).join('');
  const width = left + n * cell + 4;
  const height = top + n * cell + 4;
  return `<svg class="figure" role="img" aria-label="Attention pattern of L${layer}H${head}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="10" fill="currentColor">${rows}${cols}${rects.join('')}</svg>`;
}

function predictionsTable(result: AnalysisResult): string {
  const rows = result.predictions
    .map(
      (p, i) =>
        `<tr><td>${i + 1}</td><td><code>${tok(p.token)}</code></td><td class="num">${p.tokenId}</td><td class="num">${formatPercent(p.prob)}</td><td><span class="bar" style="width:${(Math.max(0, Math.min(1, p.prob)) * 200).toFixed(1)}px"></span></td><td class="num">${p.logit.toFixed(2)}</td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th>#</th><th>token</th><th>id</th><th>probability</th><th></th><th>logit</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function componentsTable(result: AnalysisResult, limit: number): string {
  const rows = result.trace.components
    .slice(0, limit)
    .map((c) => `<tr><td>${escapeHtml(c.name)}</td><td>${escapeHtml(c.kind)}</td><td class="num">${formatSigned(c.value, 3)}</td></tr>`)
    .join('');
  return `<table><thead><tr><th>component</th><th>kind</th><th>contribution</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function headsTable(result: AnalysisResult): string {
  const groups = groupHeads(result.heads).filter((g) => g.label !== 'diffuse' && g.label !== 'no evidence');
  if (groups.length === 0) return `<p>No head crossed the class threshold (${result.threshold}) on this prompt.</p>`;
  return groups
    .map((g) => {
      const rows = g.heads
        .map(
          (h) =>
            `<tr><td>${escapeHtml(h.name)}</td><td class="num">${h.score === null ? '—' : h.score.toFixed(2)}</td><td>${escapeHtml(h.description)}</td></tr>`,
        )
        .join('');
      return `<h3>${escapeHtml(g.title)}</h3><table><thead><tr><th>head</th><th>score</th><th>summary</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('');
}

function lensTable(result: AnalysisResult): string {
  const rows = result.lens.layers
    .map((l) => {
      const best = l.top[0];
      return `<tr><td>${escapeHtml(l.label)}</td><td>${best ? `<code>${tok(best.token)}</code> ${formatPercent(best.prob)}` : '—'}</td><td class="num">${formatPercent(l.targetProb)}</td><td class="num">${l.targetRank}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th>depth</th><th>best guess</th><th>target probability</th><th>target rank</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --line: #d0d7de; --accent: #10b981; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #30363d; } }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); max-width: 1100px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; margin-top: 2rem; } h3 { margin-bottom: 0.3rem; }
.meta { color: var(--muted); } pre.prompt { background: rgba(127,127,127,0.12); padding: 0.8rem; border-radius: 6px; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 0.5rem 0; } th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 0.7rem; background: var(--accent); border-radius: 2px; }
.tokens span { display: inline-block; border: 1px solid var(--line); border-radius: 4px; padding: 0 0.3rem; margin: 0.1rem; font-family: ui-monospace, monospace; }
.tokens small { color: var(--muted); } .figure { display: block; margin: 0.5rem 0; max-width: 100%; height: auto; } footer { color: var(--muted); margin-top: 3rem; font-size: 0.85rem; }
`;

export function buildHtmlReport(result: AnalysisResult, options: ReportOptions): string {
  const { model, trace } = result;
  const strongest = trace.components.find((c) => c.kind === 'head' && c.layer !== undefined && c.head !== undefined);
  const metric =
    trace.metric === 'logit_diff' && trace.contrast !== null ? `logit(${tok(trace.target)}) − logit(${tok(trace.contrast)})` : `logit(${tok(trace.target)})`;
  const tokens = result.tokens.map((t, i) => `<span title="id ${t.id}">${escapeHtml(quoteToken(t.text))} <small>${i}·${t.id}</small></span>`).join('');
  const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Circuit Trace ${escapeHtml(options.extensionVersion)}">
<title>Circuit Trace report — ${escapeHtml(result.prompt.slice(0, 60))}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Circuit Trace report</h1>
<p class="meta">${escapeHtml(model.displayName)} (${escapeHtml(model.id)}) · ${model.nLayers} layers × ${model.nHeads} heads · d_model ${model.dModel} · device ${escapeHtml(result.device)} · ${result.elapsedMs.toFixed(0)} ms · generated ${escapeHtml(options.generatedAt)}</p>
<pre class="prompt">${escapeHtml(result.prompt)}</pre>
<h2>Tokens</h2>
<p class="tokens">${tokens}</p>
<h2>Top predictions</h2>
${predictionsTable(result)}
<h2>Circuit trace (direct logit attribution)</h2>
<p>Metric ${metric} at position ${trace.position}: components sum to ${trace.total.toFixed(3)}; the model's value is ${trace.actual.toFixed(3)}. Emerald heads push the metric up, magenta heads push it down.</p>
${dlaHeatmap(result)}
${componentsTable(result, 15)}
<h2>Heads by class</h2>
<p>Threshold ${result.threshold}.</p>
${headsTable(result)}
<h2>Logit lens at position ${result.lens.position}</h2>
${lensTable(result)}
${strongest && strongest.layer !== undefined && strongest.head !== undefined ? `<h2>Attention of ${escapeHtml(strongest.name)}, the head with the largest direct effect</h2>${attentionFigure(result, strongest.layer, strongest.head)}` : ''}
<footer>Made by Circuit Trace ${escapeHtml(options.extensionVersion)}. The full analysis is embedded in this file as JSON (script element <code>circuit-trace-data</code>), in the same form as the JSON export.</footer>
<script type="application/json" id="circuit-trace-data">${scriptSafeJson(analysisToJson(result))}</script>
</body>
</html>
`;
}
