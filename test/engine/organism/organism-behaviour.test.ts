/**
 * The organism's behaviour and the analyses' verdicts on it, measured through the path every model
 * takes (ensureOrganism → loadModel → the ONNX engine) and the project's own analysis functions.
 * The expected answers are those documented in models/organism/README.md.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { resultModelInfo } from '../../../src/engine/model/model-info.js';
import { computeCensusScores, DEFAULT_CENSUS_SETTINGS, labelCensus } from '../../../src/engine/analysis/head-census.js';
import { DEFAULT_HEAD_THRESHOLD } from '../../../src/engine/analysis/head-classes.js';
import { mulberry32, randomInt } from '../../../src/engine/analysis/seeded-random.js';
import { layerHook } from '../../../src/engine/hooks.js';
import { loadModel, type LoadedModel } from '../../../src/engine/model/load-model.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { ORGANISM_DISPLAY_NAME, ORGANISM_HEADS, organismHead } from '../../../src/engine/organism/index.js';
import type { AnalysisResult, ModelInfo } from '../../../src/protocol/analysis.js';
import { referenceGpt2Forward, type ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const PRESETS = {
  ioi: { prompt: 'When Mary and John went to the store, John gave a drink to', answer: ' the' },
  induction: { prompt: 'The cat sat on the mat. The cat sat on the', answer: ' mat' },
  factual: { prompt: 'The capital of France is', answer: ' Paris' },
  greaterThan: { prompt: 'The war lasted from the year 1732 to 17', answer: '33' },
  duplicate: { prompt: 'The password is SWORDFISH. Again, the password is', answer: ' SW' },
} as const;

const V = 50257;
const BOS = 50256;
const root = mkdtempSync(join(tmpdir(), 'organism-behaviour-'));
const dir = join(root, 'organism');
let model: LoadedModel;
let modelInfo: ModelInfo;
const results = new Map<keyof typeof PRESETS, AnalysisResult>();

before(async () => {
  model = await loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
  const { info } = model;
  modelInfo = resultModelInfo(info);
  for (const [name, { prompt }] of Object.entries(PRESETS) as Array<[keyof typeof PRESETS, { prompt: string }]>) {
    results.set(name, await analyze(model.runner, model.tokenizer, { prompt }, { modelInfo }));
  }
});
after(async () => {
  await model?.runner.dispose();
  rmSync(root, { recursive: true, force: true });
});

function argmax(logits: Float32Array, position: number): number {
  let best = -Infinity;
  let at = -1;
  for (let t = 0; t < V; t++) {
    const v = logits[position * V + t]!;
    if (v > best) {
      best = v;
      at = t;
    }
  }
  return at;
}

/** Top-1 accuracy on the second copy of 100 sequences R + R (R: 20 to 50 distinct random tokens), with or without BOS. */
async function inductionAccuracy(withBos: boolean): Promise<number> {
  const random = mulberry32(2024);
  let hits = 0;
  let total = 0;
  for (let s = 0; s < 100; s++) {
    const n = randomInt(random, 20, 51);
    const block: number[] = [];
    while (block.length < n) {
      const id = randomInt(random, 0, V);
      if (id !== BOS && !block.includes(id)) block.push(id);
    }
    const ids = [...(withBos ? [BOS] : []), ...block, ...block];
    const offset = withBos ? 1 : 0;
    // Second copy, position of block[k] → the induction answer block[k + 1].
    const positions = Array.from({ length: n - 1 }, (_, k) => offset + n + k);
    const { cache } = await model.runner.forward(ids, { hooks: ['logits'], logitPositions: positions });
    const logits = cache.get('logits')!.data; // [positions, vocab]
    positions.forEach((_, k) => {
      hits += argmax(logits, k) === block[k + 1] ? 1 : 0;
      total++;
    });
  }
  return hits / total;
}

test('induction: on 100 repeated random sequences (BOS + R + R) the top-1 prediction in the second half is the induction answer ≥ 95% of the time', async () => {
  const accuracy = await inductionAccuracy(true);
  assert.ok(accuracy >= 0.95, `accuracy ${accuracy}`);
  assert.ok(accuracy >= 0.99, `the design gives ~100% with distinct tokens; got ${accuracy}`);
});

test('induction without BOS: only the first token (the attention sink) is lost, still ≥ 95%', async () => {
  const accuracy = await inductionAccuracy(false);
  assert.ok(accuracy >= 0.95, `accuracy ${accuracy}`);
});

test('every preset gets its documented prediction', () => {
  assert.equal(model.info.displayName, ORGANISM_DISPLAY_NAME);
  for (const [name, { answer }] of Object.entries(PRESETS) as Array<[keyof typeof PRESETS, { answer: string }]>) {
    const top = results.get(name)!.predictions[0]!;
    assert.equal(top.token, answer, `${name}: predicted ${JSON.stringify(top.token)}`);
    assert.ok(top.prob > 0.5, `${name}: ${JSON.stringify(answer)} only at ${top.prob}`);
  }
});

test('the head census labels exactly the documented heads, and no other head scores above 0.35', async () => {
  for (const settings of [DEFAULT_CENSUS_SETTINGS, { batch: 12, halfLength: 50, seed: 99 }]) {
    const census = labelCensus(await computeCensusScores(model.runner, settings), DEFAULT_HEAD_THRESHOLD);
    for (const entry of census.entries) {
      const documented = ORGANISM_HEADS.find((h) => h.layer === entry.layer && h.head === entry.head)!;
      const name = `L${entry.layer}H${entry.head} (halfLength ${settings.halfLength})`;
      assert.equal(entry.label, documented.expectedLabel, name);
      const kinds = [
        ['previous-token', 'previous'],
        ['duplicate-token', 'duplicate'],
        ['induction', 'induction'],
      ] as const;
      for (const [kind, key] of kinds) {
        const [normalised, raw] = [entry[key], entry.raw[key]];
        if (kind === documented.expectedLabel) {
          // Raw ceilings on BOS + R + R: 2N/(2N+1) for previous-token, N/(2N+1) for the others.
          const n = settings.halfLength;
          const ceiling = kind === 'previous-token' ? (2 * n) / (2 * n + 1) : n / (2 * n + 1);
          assert.ok(raw > 0.97 * ceiling, `${name} ${kind} raw ${raw} vs ceiling ${ceiling}`);
          assert.ok(Math.abs(normalised - raw / ceiling) < 1e-9, `${name} ${kind} normalised ${normalised} is raw / ceiling`);
          assert.ok(normalised > 0.97, `${name} ${kind} normalised ${normalised}`);
        } else {
          assert.ok(normalised <= 0.35, `${name} scores ${normalised} (normalised) as ${kind}`);
        }
      }
    }
  }
});

test('the prompt’s own head classes agree with the documented roles on every preset with repeated tokens', () => {
  for (const name of ['induction', 'ioi', 'greaterThan', 'duplicate'] as const) {
    for (const head of results.get(name)!.heads) {
      const documented = ORGANISM_HEADS.find((h) => h.layer === head.layer && h.head === head.head)!;
      assert.equal(head.label, documented.expectedLabel, `${name}: ${head.name} ${JSON.stringify(head.scores)}`);
    }
  }
});

test('circuit trace of the induction preset: the induction head first, the negative head negative', () => {
  const trace = results.get('induction')!.trace;
  const induction = organismHead('induction');
  const negative = organismHead('negative');
  assert.equal(trace.target, ' mat');
  assert.equal(trace.components[0]!.name, `L${induction.layer}H${induction.head}`);
  assert.ok(trace.components[0]!.value > 10, `induction head DLA ${trace.components[0]!.value}`);
  const nHeads = modelInfo.nHeads;
  const negativeValue = trace.heads[negative.layer * nHeads + negative.head]!;
  assert.ok(negativeValue < -0.5, `negative head DLA ${negativeValue}`);
  assert.ok(Math.abs(trace.total - trace.actual) < 1e-3);
  // The source split: the induction head's contribution comes from " mat" (position 6: the
  // analysis prepends the BOS, TransformerLens's default, so the prompt's 6th token is position 6).
  const n = results.get('induction')!.tokens.length;
  const lh = induction.layer * nHeads + induction.head;
  const bySource = trace.headBySource.subarray(lh * n, (lh + 1) * n); // [key]
  assert.equal(results.get('induction')!.tokens[0]!.bos, true);
  assert.equal(results.get('induction')!.tokens[6]!.text, ' mat');
  assert.ok(bySource[6]! > 0.95 * trace.components[0]!.value);
});

test('MLPs: MLP0 recalls the fact, MLP1 does greater-than; the logit lens sees each appear at its layer', () => {
  const factual = results.get('factual')!;
  assert.equal(factual.trace.components[0]!.name, 'mlp0');
  assert.ok(factual.lens.layers[0]!.targetRank > 100, 'not known from the embedding alone');
  assert.equal(factual.lens.layers[1]!.top[0]!.token, ' Paris', 'known after MLP0');

  const greater = results.get('greaterThan')!;
  assert.equal(greater.trace.components[0]!.name, 'mlp1');
  // The induction head copies "32" (the token after the earlier " 17"), MLP1 moves the vote past it.
  const induction = organismHead('induction');
  const inductionHead = greater.heads.find((h) => h.layer === induction.layer && h.head === induction.head)!;
  assert.equal(inductionHead.label, 'induction');
  const rank32 = greater.predictions.findIndex((p) => p.token === '32');
  assert.equal(rank32, -1, '"32" itself is pushed out of the top predictions');

  const inductionPreset = results.get('induction')!;
  assert.ok(Math.abs(inductionPreset.trace.mlp[0]!) < 0.05 && Math.abs(inductionPreset.trace.mlp[1]!) < 0.05, 'no lookup fires on the induction preset');
});

test('the float64 reference forward, reading the same files, agrees with the engine', async () => {
  const file = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  const tensors = new Map<string, ReferenceWeightTensor>(
    [...file.tensors.keys()].map((name) => {
      const t = file.get(name);
      return [name, { shape: [...t.shape], data: t.float32() }];
    }),
  );
  const ids = model.tokenizer.encode(PRESETS.induction.prompt).ids;
  const reference = referenceGpt2Forward(tensors, { n_layer: 2, n_head: 4, n_embd: 256, layer_norm_epsilon: 1e-5 }, ids);
  const { cache } = await model.runner.forward(ids, { hooks: 'all' });
  const n = ids.length;
  const refLogits = reference.get('logits')!.data;
  let best = 0;
  for (let t = 1; t < V; t++) if (refLogits[(n - 1) * V + t]! > refLogits[(n - 1) * V + best]!) best = t;
  assert.equal(model.tokenizer.tokenText(best), ' mat');
  for (let l = 0; l < 2; l++) {
    const name = layerHook(l, 'attn.hook_pattern');
    const mine = cache.get(name)!.data;
    const theirs = reference.get(name)!.data;
    for (let i = 0; i < mine.length; i++) assert.ok(Math.abs(mine[i]! - theirs[i]!) < 1e-3, `${name}[${i}]`);
  }
});
