/**
 * Attribution and path-patching maps with known values, for the Lab's attribution view and the
 * extension glue: head (layer, head) scores layer * 10 + head (AtP) and −(layer * 10 + head) / 100
 * normalised effects (path patching), so tests can read a cell back from its indices.
 */
import type { TokenInfo } from '../../src/protocol/analysis.js';
import type { AttributionMap, LabAttributionMethod, PathPatchMap } from '../../src/protocol/attribution.js';

export function syntheticTokens(words: readonly string[]): TokenInfo[] {
  let at = 0;
  return words.map((text) => {
    // Ids from the text, so that prompts differ where their words do.
    const id = [...text].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 50000, 7);
    const token = { id, text, start: at, end: at + text.length };
    at += text.length;
    return token;
  });
}

export function syntheticAttributionMap(
  options: { nLayers?: number; nHeads?: number; method?: LabAttributionMethod; clean?: TokenInfo[]; corrupt?: TokenInfo[]; contrast?: boolean } = {},
): AttributionMap {
  const nLayers = options.nLayers ?? 2;
  const nHeads = options.nHeads ?? 3;
  const cleanTokens = options.clean ?? syntheticTokens(['The', ' cat', ' sat', ' on']);
  const corruptTokens = options.corrupt ?? syntheticTokens(['The', ' dog', ' sat', ' on']);
  const method = options.method ?? 'atp';
  const P = cleanTokens.length;
  const heads = Float32Array.from({ length: nLayers * nHeads }, (_, i) => Math.floor(i / nHeads) * 10 + (i % nHeads));
  const grid = (offset: number) => Float32Array.from({ length: nLayers * P }, (_, i) => offset + Math.floor(i / P) * 10 + (i % P));
  const contrast = options.contrast ?? true;
  return {
    method,
    steps: method === 'eap-ig' ? 5 : null,
    targetId: 7,
    target: ' mat',
    contrastId: contrast ? 8 : null,
    contrast: contrast ? ' rug' : null,
    prependBos: false,
    cleanTokens,
    corruptTokens,
    nLayers,
    nHeads,
    metric: { name: contrast ? 'logit_diff' : 'log_prob', clean: 3, corrupt: -1 },
    heads,
    positions: method === 'eap-ig' ? null : { resid_pre: grid(0), attn_out: grid(100), mlp_out: grid(200) },
    elapsedMs: 1,
  };
}

export function syntheticPathPatchMap(
  options: { nLayers?: number; nHeads?: number; receivers?: string; clean?: TokenInfo[]; corrupt?: TokenInfo[] } = {},
): PathPatchMap {
  const nLayers = options.nLayers ?? 2;
  const nHeads = options.nHeads ?? 3;
  const cleanTokens = options.clean ?? syntheticTokens(['The', ' cat', ' sat', ' on']);
  const corruptTokens = options.corrupt ?? syntheticTokens(['The', ' dog', ' sat', ' on']);
  const entries = Array.from({ length: nLayers * nHeads }, (_, i) => {
    const layer = Math.floor(i / nHeads),
      head = i % nHeads;
    const normalized = -(layer * 10 + head) / 100;
    return { layer, head, normalized, logitDiff: 3 + normalized * 4 };
  });
  return {
    receivers: options.receivers ?? 'logits',
    targetId: 7,
    target: ' mat',
    contrastId: 8,
    contrast: ' rug',
    prependBos: false,
    cleanTokens,
    corruptTokens,
    nLayers,
    nHeads,
    cleanLogitDiff: 3,
    corruptLogitDiff: -1,
    entries,
    elapsedMs: 1,
  };
}
