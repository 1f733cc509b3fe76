/**
 * A synthetic but internally consistent AnalysisResult for the Lab's tests and visual harness:
 * causal attention rows that sum to 1 with planted previous-token and induction heads, a trace
 * whose per-source split sums to each head's contribution and whose components sum to `total`,
 * a logit lens where the target's rank falls to 0 with depth, and flow = attention summed over
 * layers and heads. Deterministic for a given seed.
 */
import type {
  AnalysisResult,
  CensusEntry,
  HeadSummary,
  PatchSweepResult,
  Prediction,
  TokenInfo,
  TracePathEdge,
  TracePathNode,
} from '../../src/protocol/analysis.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const WORDS = [' The', ' cat', ' sat', ' on', ' the', ' mat', '.', ' When', ' Mary', ' and', ' John', ' went', ' to', ' store', ',', ' gave', ' a', ' drink'];

export interface SyntheticOptions {
  nLayers?: number;
  nHeads?: number;
  nTokens?: number;
  seed?: number;
  perPosition?: boolean;
  contrast?: boolean;
  /** Prepend a BOS (as the engine's prependBos does): position 0 is it, and nTokens counts it. */
  bos?: boolean;
}

/** The BOS the engine prepends: GPT-2's <|endoftext|>, with no text in the prompt. */
export const SYNTHETIC_BOS: TokenInfo = { id: 50256, text: '<|endoftext|>', start: 0, end: 0, bos: true };

export function syntheticTokens(nTokens: number, bos = false): TokenInfo[] {
  const tokens: TokenInfo[] = bos && nTokens > 0 ? [{ ...SYNTHETIC_BOS }] : [];
  let offset = 0;
  for (let i = 0; tokens.length < nTokens; i++) {
    // Repeats after 7 tokens, so that induction and duplicate patterns exist.
    const text = WORDS[i % 7]!;
    tokens.push({ id: 100 + (i % 7), text, start: offset, end: offset + text.length });
    offset += text.length;
  }
  return tokens;
}

export function syntheticResult(o: SyntheticOptions = {}): AnalysisResult {
  const nLayers = o.nLayers ?? 4;
  const nHeads = o.nHeads ?? 4;
  const n = o.nTokens ?? 10;
  const random = rng(o.seed ?? 7);
  const tokens = syntheticTokens(n, o.bos);
  const ids = tokens.map((t) => t.id);
  const size = n * n;

  // attention [layer, head, query, key]
  const attention = new Float32Array(nLayers * nHeads * size);
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (l * nHeads + h) * size;
      const kind = (l * nHeads + h) % 5; // 0 previous-token, 1 induction, else diffuse
      for (let q = 0; q < n; q++) {
        const row = base + q * n;
        let sum = 0;
        for (let k = 0; k <= q; k++) {
          let w = 0.05 + random();
          if (kind === 0 && k === q - 1) w += 20;
          if (kind === 1 && k >= 1 && k < q && ids[k - 1] === ids[q]) w += 20;
          if (k === 0) w += 2;
          attention[row + k] = w;
          sum += w;
        }
        for (let k = 0; k <= q; k++) attention[row + k]! /= sum;
      }
    }
  }

  const position = n - 1;
  const heads = new Float32Array(nLayers * nHeads);
  const headBySource = new Float32Array(nLayers * nHeads * n);
  for (let i = 0; i < nLayers * nHeads; i++) {
    const layer = Math.floor(i / nHeads);
    const value = (random() - 0.45) * (0.5 + layer);
    heads[i] = value;
    // Split by the head's own attention at the traced position, so that the split sums to the value.
    const row = i * size + position * n;
    for (let k = 0; k < n; k++) headBySource[i * n + k] = value * attention[row + k]!;
  }
  const mlp = Float32Array.from({ length: nLayers }, () => (random() - 0.4) * 3);
  const embed = 1.5;
  const posEmbed = -0.25;
  const bias = 0.1;
  let total = embed + posEmbed + bias;
  for (const v of heads) total += v;
  for (const v of mlp) total += v;

  const components = [
    ...Array.from(heads, (value, i) => ({
      name: `L${Math.floor(i / nHeads)}H${i % nHeads}`,
      kind: 'head' as const,
      layer: Math.floor(i / nHeads),
      head: i % nHeads,
      value,
    })),
    ...Array.from(mlp, (value, layer) => ({ name: `mlp${layer}`, kind: 'mlp' as const, layer, value })),
    { name: 'embed', kind: 'embed' as const, value: embed },
    { name: 'pos_embed', kind: 'pos_embed' as const, value: posEmbed },
    { name: 'bias', kind: 'bias' as const, value: bias },
  ].sort((a, b) => Math.abs(b.value) - Math.abs(a.value));

  const topPath: TracePathNode[][] = [];
  for (let l = 0; l < nLayers; l++) {
    let best = 0;
    for (let h = 1; h < nHeads; h++) if (Math.abs(heads[l * nHeads + h]!) > Math.abs(heads[l * nHeads + best]!)) best = h;
    topPath.push([{ layer: l, head: best, value: heads[l * nHeads + best]! }]);
  }
  const rawEdges = topPath.slice(1).map((layerNodes, i) => {
    const from = topPath[i]![0]!;
    const to = layerNodes[0]!;
    return { from: { layer: from.layer, head: from.head }, to: { layer: to.layer, head: to.head }, weight: Math.abs(from.value * to.value) };
  });
  const maxEdge = Math.max(...rawEdges.map((e) => e.weight), 1e-9);
  const edges: TracePathEdge[] = rawEdges.map((e) => ({ ...e, weight: e.weight / maxEdge }));

  const target = ' mat';
  const predictions: Prediction[] = [target, ' floor', ' bed', ' table', ' rug'].map((token, i) => ({
    tokenId: 200 + i,
    token,
    prob: [0.446, 0.2, 0.1, 0.05, 0.02][i]!,
    logit: 10 - i,
  }));

  const depth = nLayers + 1;
  const lensLayers = Array.from({ length: depth }, (_, d) => {
    const rank = Math.max(0, depth - 2 - d * 2);
    const top: Prediction[] =
      rank === 0 ? predictions.slice(0, 3) : [{ tokenId: 300 + d, token: ` guess${d}`, prob: 0.1, logit: 3 }, ...predictions.slice(0, 2)];
    return {
      label: d < nLayers ? `resid_pre ${d}` : `resid_post ${nLayers - 1}`,
      top,
      targetProb: rank === 0 ? (0.446 * (d + 1)) / depth : 0.01 / (rank + 1),
      targetRank: rank,
    };
  });
  const perPosition = o.perPosition
    ? Array.from({ length: depth }, (_, d) =>
        tokens.map((t, p) => ({
          tokenId: 400 + p,
          token: d === depth - 1 && p === position ? target : ` w${p}_${d}`,
          prob: 0.05 + 0.9 * (d / depth),
          logit: 1,
        })),
      )
    : null;

  const total2 = new Float32Array(size);
  for (let i = 0; i < nLayers * nHeads; i++) for (let j = 0; j < size; j++) total2[j]! += attention[i * size + j]!;

  const headSummaries: HeadSummary[] = [];
  const censusEntries: CensusEntry[] = [];
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < nHeads; h++) {
      const kind = (l * nHeads + h) % 5;
      const label = kind === 0 ? 'previous-token' : kind === 1 ? 'induction' : 'diffuse';
      headSummaries.push({
        layer: l,
        head: h,
        name: `L${l}H${h}`,
        label,
        scores: { previous: kind === 0 ? 0.9 : 0.1, duplicate: 0.05, induction: kind === 1 ? 0.8 : 0.1 },
        entropy: 1,
        entropyNormalized: 0.5,
        concentration: 0.6,
        outputNorm: 0.2 + random() * 3,
        dla: heads[l * nHeads + h]!,
      });
      const census = { previous: kind === 0 ? 0.9 : 0.1, duplicate: 0.05, induction: kind === 1 ? 0.8 : 0.1 };
      censusEntries.push({
        layer: l,
        head: h,
        ...census,
        raw: { previous: census.previous * (16 / 17), duplicate: census.duplicate * (8 / 17), induction: census.induction * (8 / 17) },
        label,
      });
    }
  }

  return {
    model: { id: 'synthetic', displayName: 'synthetic', nLayers, nHeads, dModel: 64, dHead: 16, dVocab: 1000, nCtx: 1024 },
    device: 'cpu',
    prompt: tokens
      .filter((t) => !t.bos)
      .map((t) => t.text)
      .join(''),
    prependBos: o.bos === true,
    tokens,
    predictions,
    predictionsPerPosition: o.perPosition ? tokens.map((_, p) => predictions.map((pr) => ({ ...pr, prob: pr.prob / (p + 1) }))) : null,
    heads: headSummaries,
    attention,
    census: {
      batch: 4,
      halfLength: 8,
      seed: 1,
      prependBos: true,
      threshold: 0.35,
      ceiling: { previous: 16 / 17, duplicate: 8 / 17, induction: 8 / 17 },
      entries: censusEntries,
    },
    trace: {
      position,
      targetId: 200,
      target,
      contrastId: o.contrast ? 201 : null,
      contrast: o.contrast ? ' floor' : null,
      metric: o.contrast ? 'logit_diff' : 'logit',
      heads,
      mlp,
      embed,
      posEmbed,
      bias,
      total,
      actual: total,
      components,
      headBySource,
      topPath,
      edges,
    },
    lens: { position, targetId: 200, layers: lensLayers, perPosition },
    flow: { total: total2, perLayer: null },
    threshold: 0.35,
    metric: o.contrast ? { name: 'logit_diff', value: total } : { name: 'log_prob', value: Math.log(predictions[0]!.prob) },
    elapsedMs: 12,
  };
}

export function syntheticPatch(kind: PatchSweepResult['kind'], nLayers: number, nHeads: number, nTokens: number, seed = 3): PatchSweepResult {
  const random = rng(seed);
  const tokens = syntheticTokens(nTokens);
  const entries: PatchSweepResult['entries'] = [];
  const push = (layer: number, head?: number, position?: number) => {
    const recovery = random() * random() * (random() < 0.2 ? -0.5 : 1);
    entries.push({
      layer,
      ...(head !== undefined ? { head } : {}),
      ...(position !== undefined ? { position } : {}),
      value: recovery * 3,
      logitDiff: recovery * 3,
      prob: 0.1 + recovery * 0.3,
      recovery,
    });
  };
  for (let l = 0; l < nLayers; l++) {
    if (kind === 'heads-last') for (let h = 0; h < nHeads; h++) push(l, h);
    else if (kind === 'heads-all') for (let h = 0; h < nHeads; h++) for (let p = 0; p < nTokens; p++) push(l, h, p);
    else if (kind !== 'single') for (let p = 0; p < nTokens; p++) push(l, undefined, p);
  }
  if (kind === 'single') push(0, 1);
  return {
    kind,
    targetId: 200,
    target: ' Mary',
    contrastId: 201,
    contrast: ' John',
    metric: 'logit_diff',
    prependBos: false,
    cleanTokens: tokens,
    corruptTokens: tokens,
    clean: { value: 3, logitDiff: 3, prob: 0.4 },
    corrupt: { value: -1, logitDiff: -1, prob: 0.05 },
    entries,
    elapsedMs: 100,
  };
}

/**
 * A sweep's metric variants, as the engine names them: 'log_prob' (no contrast: log p(" mat")),
 * 'prob_diff_greater_than' (the Greater-than preset, start year 32) or 'logit_diff' (as
 * syntheticPatch makes it). `value`s are rescaled into the metric's range; recovery stays.
 */
export function syntheticPatchWithMetric(base: PatchSweepResult, metric: PatchSweepResult['metric']): PatchSweepResult {
  if (metric === 'logit_diff') return structuredClone(base);
  const [clean, corrupt] = metric === 'log_prob' ? [-0.25, -3.1] : [0.62, -0.18];
  const at = (recovery: number) => corrupt + recovery * (clean - corrupt);
  const { startYear: _drop, ...rest } = structuredClone(base);
  return {
    ...rest,
    ...(metric === 'log_prob'
      ? { target: ' mat', targetId: 2603, contrast: null, contrastId: null }
      : { target: '32', targetId: 2624, contrast: null, contrastId: null, startYear: 32 }),
    metric,
    clean: { ...base.clean, value: clean },
    corrupt: { ...base.corrupt, value: corrupt },
    entries: base.entries.map((e) => ({ ...e, value: at(e.recovery) })),
  };
}
