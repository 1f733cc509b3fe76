/**
 * A small, hand-built AnalysisResult (2 layers × 2 heads, 4 tokens) with attention patterns whose
 * strongest heads are known by construction, for the content builders' tests.
 */
import type { AnalysisResult, HeadSummary, Prediction, TokenInfo } from '../../src/protocol/analysis.js';

export const PROMPT = 'The cat sat';

export function tokensOf(): TokenInfo[] {
  return [
    { id: 464, text: 'The', start: 0, end: 3 },
    { id: 3797, text: ' cat', start: 3, end: 7 },
    { id: 3332, text: ' sat', start: 7, end: 11 },
  ];
}

function prediction(token: string, tokenId: number, prob: number): Prediction {
  return { token, tokenId, prob, logit: Math.log(prob) };
}

/**
 * attention [layer, head, query, key] for 3 tokens: every row is causal and sums to 1.
 * From query 2: L1H0 puts 0.9 on key 1 (" cat"), L0H1 0.6 on key 2, the others keep most on key 0.
 */
export function attentionOf(): Float32Array {
  const n = 3;
  const a = new Float32Array(2 * 2 * n * n);
  const setRow = (l: number, h: number, q: number, row: number[]): void => {
    row.forEach((w, k) => (a[((l * 2 + h) * n + q) * n + k] = w));
  };
  for (let l = 0; l < 2; l++) {
    for (let h = 0; h < 2; h++) {
      setRow(l, h, 0, [1, 0, 0]);
      setRow(l, h, 1, [0.5, 0.5, 0]);
      setRow(l, h, 2, [0.8, 0.1, 0.1]);
    }
  }
  setRow(1, 0, 2, [0.05, 0.9, 0.05]);
  setRow(0, 1, 2, [0.2, 0.2, 0.6]);
  return a;
}

function head(layer: number, head: number, label: HeadSummary['label'], dla: number): HeadSummary {
  return {
    layer,
    head,
    name: `L${layer}H${head}`,
    label,
    scores: { previous: layer === 0 && head === 0 ? 0.8 : 0.1, duplicate: null, induction: label === 'induction' ? 0.7 : 0.05 },
    entropy: 0.5,
    entropyNormalized: 0.4,
    concentration: 0.7,
    outputNorm: 1.5,
    dla,
  };
}

export function makeResult(overrides: Partial<AnalysisResult> = {}): AnalysisResult {
  const tokens = tokensOf();
  return {
    model: { id: 'organism', displayName: 'Model organism', nLayers: 2, nHeads: 2, dModel: 8, dHead: 4, dVocab: 50257, nCtx: 64 },
    device: 'cpu',
    prompt: PROMPT,
    prependBos: false,
    tokens,
    predictions: [prediction(' on', 319, 0.446), prediction(' down', 866, 0.2)],
    predictionsPerPosition: [
      [prediction(' first', 717, 0.1)],
      [prediction(' sat', 3332, 0.3), prediction(' was', 373, 0.25)],
      [prediction(' on', 319, 0.446), prediction(' down', 866, 0.2)],
    ],
    heads: [head(0, 0, 'previous-token', 0.1), head(0, 1, 'diffuse', -0.4), head(1, 0, 'induction', 1.2), head(1, 1, 'diffuse', 0.05)],
    attention: attentionOf(),
    census: null,
    trace: {
      position: 2,
      targetId: 319,
      target: ' on',
      contrastId: null,
      contrast: null,
      metric: 'logit',
      heads: new Float32Array([0.1, -0.4, 1.2, 0.05]),
      mlp: new Float32Array([0.3, 0.6]),
      embed: 0.2,
      posEmbed: -0.1,
      bias: 0.05,
      total: 2.0,
      actual: 2.0,
      components: [
        { name: 'L1H0', kind: 'head', layer: 1, head: 0, value: 1.2 },
        { name: 'mlp1', kind: 'mlp', layer: 1, value: 0.6 },
        { name: 'L0H1', kind: 'head', layer: 0, head: 1, value: -0.4 },
      ],
      headBySource: new Float32Array(2 * 2 * 3),
      topPath: [[{ layer: 0, head: 1, value: -0.4 }], [{ layer: 1, head: 0, value: 1.2 }]],
      edges: [{ from: { layer: 0, head: 1 }, to: { layer: 1, head: 0 }, weight: 1 }],
    },
    lens: {
      position: 2,
      targetId: 319,
      layers: [
        { label: 'resid_pre 0', top: [prediction(' the', 262, 0.05)], targetProb: 0.01, targetRank: 40 },
        { label: 'resid_pre 1', top: [prediction(' on', 319, 0.2)], targetProb: 0.2, targetRank: 0 },
        { label: 'resid_post 1', top: [prediction(' on', 319, 0.446)], targetProb: 0.446, targetRank: 0 },
      ],
      perPosition: null,
    },
    flow: { total: new Float32Array(9), perLayer: null },
    threshold: 0.35,
    metric: { name: 'log_prob', value: Math.log(0.446) },
    elapsedMs: 12,
    ...overrides,
  };
}
