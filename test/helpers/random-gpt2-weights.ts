/**
 * A seeded random GPT-2 for the analysis tests: its Hugging Face checkpoint (for the independent
 * float64 reference forward in test/helpers/reference-gpt2.ts), the same weights in the engine's
 * TransformerLens layout (converted here, independently of the engine's adapters), and a runner
 * that serves the reference forward's activations through the AnalysisRunner contract.
 */
import type { AnalysisRunner } from '../../src/engine/analysis/analysis-runner.js';
import type { ActivationCache, HookName } from '../../src/engine/hooks.js';
import { allHookNames, parseHookName } from '../../src/engine/hooks.js';
import type { ModelConfig } from '../../src/engine/model/config.js';
import type { BlockWeights, ModelWeights } from '../../src/engine/model/weights.js';
import type { ForwardOptions, ForwardResult } from '../../src/engine/runtime/types.js';
import { tensor, type Tensor } from '../../src/engine/tensor.js';
import { referenceGpt2Forward, type ReferenceGpt2Config, type ReferenceWeightTensor } from './reference-gpt2.js';
import { mulberry32 } from '../../src/engine/analysis/seeded-random.js';

export interface RandomGpt2Spec {
  nLayers: number;
  nHeads: number;
  dModel: number;
  vocab: number;
  nCtx: number;
  seed: number;
  /** Standard deviation of the random matrices (larger: sharper attention). */
  std?: number;
}

export interface RandomGpt2 {
  checkpoint: Map<string, ReferenceWeightTensor>;
  referenceConfig: ReferenceGpt2Config;
  config: ModelConfig;
  weights: ModelWeights;
}

function gaussian(random: () => number): number {
  // Box–Muller; 1 − u keeps the logarithm finite.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export function randomGpt2(spec: RandomGpt2Spec): RandomGpt2 {
  const { nLayers, nHeads, dModel: d, vocab, nCtx, seed } = spec;
  const std = spec.std ?? 0.5;
  const random = mulberry32(seed);
  const rand = (shape: number[], scale: number, offset = 0): ReferenceWeightTensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * gaussian(random);
    return { shape, data };
  };
  const checkpoint = new Map<string, ReferenceWeightTensor>();
  checkpoint.set('wte.weight', rand([vocab, d], 1));
  checkpoint.set('wpe.weight', rand([nCtx, d], 0.3));
  for (let l = 0; l < nLayers; l++) {
    checkpoint.set(`h.${l}.ln_1.weight`, rand([d], 0.2, 1));
    checkpoint.set(`h.${l}.ln_1.bias`, rand([d], 0.2));
    checkpoint.set(`h.${l}.attn.c_attn.weight`, rand([d, 3 * d], std));
    checkpoint.set(`h.${l}.attn.c_attn.bias`, rand([3 * d], 0.2));
    checkpoint.set(`h.${l}.attn.c_proj.weight`, rand([d, d], std));
    checkpoint.set(`h.${l}.attn.c_proj.bias`, rand([d], 0.2));
    checkpoint.set(`h.${l}.ln_2.weight`, rand([d], 0.2, 1));
    checkpoint.set(`h.${l}.ln_2.bias`, rand([d], 0.2));
    checkpoint.set(`h.${l}.mlp.c_fc.weight`, rand([d, 4 * d], std));
    checkpoint.set(`h.${l}.mlp.c_fc.bias`, rand([4 * d], 0.2));
    checkpoint.set(`h.${l}.mlp.c_proj.weight`, rand([4 * d, d], std));
    checkpoint.set(`h.${l}.mlp.c_proj.bias`, rand([d], 0.2));
  }
  checkpoint.set('ln_f.weight', rand([d], 0.2, 1));
  checkpoint.set('ln_f.bias', rand([d], 0.2));
  const referenceConfig: ReferenceGpt2Config = { n_layer: nLayers, n_head: nHeads, n_embd: d, layer_norm_epsilon: 1e-5 };
  const config: ModelConfig = {
    modelType: 'gpt2',
    nLayers,
    dModel: d,
    nHeads,
    dHead: d / nHeads,
    dMlp: 4 * d,
    dVocab: vocab,
    nCtx,
    eps: 1e-5,
    actFn: 'gelu_new',
    bosTokenId: vocab - 1,
  };
  return { checkpoint, referenceConfig, config, weights: canonicalWeights(checkpoint, config) };
}

function get(checkpoint: Map<string, ReferenceWeightTensor>, name: string): ReferenceWeightTensor {
  const t = checkpoint.get(name);
  if (!t) throw new Error(`random-gpt2: missing ${name}`);
  return t;
}

/**
 * HF GPT-2 (Conv1D, [in, out]) to TransformerLens shapes:
 * W_Q[h] = c_attn.weight[:, h·dh : (h+1)·dh] (K at +d, V at +2d), W_O[h] = c_proj.weight[h·dh : (h+1)·dh, :],
 * W_in = c_fc.weight, W_out = mlp.c_proj.weight, W_U_T = wte (tied), b_U = 0.
 */
function canonicalWeights(checkpoint: Map<string, ReferenceWeightTensor>, config: ModelConfig): ModelWeights {
  const { nLayers, nHeads, dModel: d, dHead } = config;
  const t = (data: Float32Array, shape: number[]): Tensor => tensor(data, shape);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    const cAttn = get(checkpoint, `h.${l}.attn.c_attn.weight`).data; // [d, 3d]
    const cAttnB = get(checkpoint, `h.${l}.attn.c_attn.bias`).data; // [3d]
    const split = (which: number): Tensor => {
      const out = new Float32Array(nHeads * d * dHead); // [head, d_model, d_head]
      for (let h = 0; h < nHeads; h++)
        for (let i = 0; i < d; i++) for (let e = 0; e < dHead; e++) out[(h * d + i) * dHead + e] = cAttn[i * 3 * d + which * d + h * dHead + e]!;
      return t(out, [nHeads, d, dHead]);
    };
    const splitBias = (which: number): Tensor => t(cAttnB.slice(which * d, (which + 1) * d), [nHeads, dHead]);
    blocks.push({
      ln1: { w: t(get(checkpoint, `h.${l}.ln_1.weight`).data, [d]), b: t(get(checkpoint, `h.${l}.ln_1.bias`).data, [d]) },
      W_Q: split(0),
      W_K: split(1),
      W_V: split(2),
      b_Q: splitBias(0),
      b_K: splitBias(1),
      b_V: splitBias(2),
      // c_proj.weight [d (= head·d_head), d] is already [head, d_head, d_model] row-major.
      W_O: t(get(checkpoint, `h.${l}.attn.c_proj.weight`).data, [nHeads, dHead, d]),
      b_O: t(get(checkpoint, `h.${l}.attn.c_proj.bias`).data, [d]),
      ln2: { w: t(get(checkpoint, `h.${l}.ln_2.weight`).data, [d]), b: t(get(checkpoint, `h.${l}.ln_2.bias`).data, [d]) },
      W_in: t(get(checkpoint, `h.${l}.mlp.c_fc.weight`).data, [d, 4 * d]),
      b_in: t(get(checkpoint, `h.${l}.mlp.c_fc.bias`).data, [4 * d]),
      W_out: t(get(checkpoint, `h.${l}.mlp.c_proj.weight`).data, [4 * d, d]),
      b_out: t(get(checkpoint, `h.${l}.mlp.c_proj.bias`).data, [d]),
    });
  }
  const wte = get(checkpoint, 'wte.weight');
  return {
    W_E: t(wte.data, wte.shape),
    W_pos: t(get(checkpoint, 'wpe.weight').data, get(checkpoint, 'wpe.weight').shape),
    blocks,
    ln_final: { w: t(get(checkpoint, 'ln_f.weight').data, [d]), b: t(get(checkpoint, 'ln_f.bias').data, [d]) },
    W_U_T: t(wte.data, wte.shape),
    b_U: t(new Float32Array(config.dVocab), [config.dVocab]),
  };
}

/**
 * Serves the float64 reference forward as float32 activations. With `unembeddingBias` the model
 * gets a b_U (GPT-2 has none): it is added to the reference logits and put into the weights, so
 * that the analyses' handling of b_U is exercised too.
 */
export class ReferenceRunner implements AnalysisRunner {
  readonly provider = 'reference';
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  /** How many forwards ran (the census cache test counts them). */
  forwards = 0;
  private readonly model: RandomGpt2;

  constructor(model: RandomGpt2, unembeddingBias?: Float32Array) {
    this.model = model;
    this.config = model.config;
    this.weights = unembeddingBias ? { ...model.weights, b_U: tensor(unembeddingBias, [model.config.dVocab]) } : model.weights;
  }

  async forward(ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    const started = performance.now();
    this.forwards++;
    const reference = referenceGpt2Forward(this.model.checkpoint, this.model.referenceConfig, ids);
    const wanted: readonly HookName[] = options.hooks === 'all' ? allHookNames(this.config.nLayers) : (options.hooks ?? ['logits']);
    const cache: ActivationCache = new Map();
    for (const name of wanted) {
      const value = reference.get(name);
      if (!value) throw new Error(`reference forward has no ${name}`);
      if (name === 'logits') {
        // Only the asked-for positions, as the engine does with `logitPositions`.
        const vocab = this.config.dVocab;
        const positions = options.logitPositions ?? ids.map((_, p) => p);
        const data = new Float32Array(positions.length * vocab);
        positions.forEach((p, r) => {
          for (let t = 0; t < vocab; t++) data[r * vocab + t] = value.data[p * vocab + t]! + this.weights.b_U.data[t]!;
        });
        cache.set(name, tensor(data, [positions.length, vocab]));
        continue;
      }
      cache.set(name, tensor(Float32Array.from(value.data), value.shape));
    }
    if (options.onLayer) {
      for (let l = 0; l < this.config.nLayers; l++) {
        const layerHooks: ActivationCache = new Map();
        for (const [name, value] of cache) if (parseHookName(name, this.config.nLayers)?.layer === l) layerHooks.set(name, value);
        options.onLayer(l, layerHooks);
      }
    }
    return { cache, provider: this.provider, elapsedMs: performance.now() - started };
  }
}
