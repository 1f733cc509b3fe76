/**
 * The organism's transcoder (src/engine/organism/organism-transcoder.ts) as written to disk, against
 * the organism's mechanisms: on prompts with repeated tokens, each feature fires exactly where its
 * mechanism says (from the token sequence alone), and the reconstruction error is exactly the
 * documented gelu_new − ReLU term. Activations come from the float64 reference forward
 * (test/helpers/reference-gpt2.ts) and a float64 encoding written here from circuit-tracer's
 * definition (ReLU(x · W_enc + b_enc), x = ln2.hook_normalized), not from the engine's encode.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import { gpt2HfTensorsFromCanonical } from '../../../src/engine/model/hf-gpt2-layout.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { generateOrganism } from '../../../src/engine/organism/organism-folder.js';
import { CENTURIES, FACT_RELATION, FACTS } from '../../../src/engine/organism/organism-design.js';
import { defaultMonitoredTokens, GREATER_THAN_NUMBERS, type OrganismFeatureKind } from '../../../src/engine/organism/organism-transcoder.js';
import {
  TRANSCODER_CONFIG_FILE,
  TRANSCODER_LABELS_FILE,
  TRANSCODER_MARKER,
  transcoderLayerFile,
  writeOrganismTranscoderFolder,
  type NeuronpediaExplanation,
} from '../../../src/engine/organism/transcoder-folder.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import { geluNew, referenceGpt2Forward, type ReferenceTensor, type ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const D = 256;
const BOS = 50256;
const EPS = 1e-5;

/** Prompts with repeated tokens (induction), facts, and the greater-than task; one induction target a position. */
const PROMPTS = [
  'The cat sat on the mat. The cat sat on the',
  'When Mary and John went to the store, John gave a drink to',
  'The capital of France is',
  'The war lasted from the year 1732 to 17',
  'The password is SWORDFISH. Again, the password is',
  'In 1815 the war ended; in 18',
  'The capital of Japan is Tokyo, and the capital of Egypt is',
];

const root = mkdtempSync(join(tmpdir(), 'organism-transcoder-'));
const dir = join(root, 'transcoder');
let tokenizer: PromptTokenizer;
let tensors: Map<string, ReferenceWeightTensor>;
let monitored: number[];
/** Per layer, the file's arrays as stored: W_enc [d_sae, d_model], W_dec [d_model, d_sae]. */
const stored: Array<{ dSae: number; W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array; b_dec: Float32Array }> = [];
let labels: NeuronpediaExplanation[];
let files: string[];
/** Per prompt of PROMPTS: its ids (BOS first) and the float64 reference forward's hooks. */
const runs: Array<{ prompt: string; ids: number[]; cache: Map<string, ReferenceTensor> }> = [];

const id = (text: string): number => {
  const ids = tokenizer.encode(text).ids;
  assert.equal(ids.length, 1, `${JSON.stringify(text)} is one token`);
  return ids[0]!;
};

before(async () => {
  files = await writeOrganismTranscoderFolder(dir);
  const { model, tokenizerJson } = generateOrganism();
  tokenizer = loadTokenizer(tokenizerJson);
  tensors = new Map(gpt2HfTensorsFromCanonical(model.weights, model.config).map((t) => [t.name, { shape: t.shape, data: t.data }]));
  monitored = defaultMonitoredTokens((text) => tokenizer.encode(text).ids, id);
  for (const layer of [0, 1]) {
    const file = readSafetensors(readFileSync(join(dir, transcoderLayerFile(layer))), transcoderLayerFile(layer));
    const get = (name: string) => {
      const t = file.tensors.get(name);
      assert.ok(t, `${name} in layer ${layer}`);
      assert.equal(t.dtype, 'F32');
      return { shape: t.shape, data: Float32Array.from(t.float32()) };
    };
    const W_enc = get('W_enc');
    const dSae = W_enc.shape[0]!;
    assert.deepEqual(W_enc.shape, [dSae, D]);
    const W_dec = get('W_dec');
    assert.deepEqual(W_dec.shape, [D, dSae]);
    const b_enc = get('b_enc');
    assert.deepEqual(b_enc.shape, [dSae]);
    const b_dec = get('b_dec');
    assert.deepEqual(b_dec.shape, [D]);
    assert.ok(!file.tensors.has('W_skip'));
    stored.push({ dSae, W_enc: W_enc.data, b_enc: b_enc.data, W_dec: W_dec.data, b_dec: b_dec.data });
  }
  labels = JSON.parse(readFileSync(join(dir, TRANSCODER_LABELS_FILE), 'utf8')) as NeuronpediaExplanation[];
  // And BOS + R + R for random sequences R of distinct monitored tokens, as the head census's prompts.
  const random = mulberry32(20261206);
  const sequences = [6, 11, 17].map((length) => {
    const r: number[] = [];
    while (r.length < length) {
      const t = monitored[Math.floor(random() * monitored.length)]!;
      if (!r.includes(t)) r.push(t);
    }
    return [BOS, ...r, ...r];
  });
  const inputs = [
    ...PROMPTS.map((prompt) => ({ prompt, ids: [BOS, ...tokenizer.encode(prompt).ids] })),
    ...sequences.map((ids) => ({ prompt: tokenizer.decode(ids), ids })),
  ];
  for (const { prompt, ids } of inputs) {
    runs.push({ prompt, ids, cache: referenceGpt2Forward(tensors, { n_layer: 2, n_head: 4, n_embd: D, layer_norm_epsilon: EPS }, ids) });
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

/** What feature `index` of `layer` is, from the documented order: the MLP's neurons first, then one monitor per monitored token. */
function featureOf(layer: number, index: number): { kind: OrganismFeatureKind; token: number; context?: number } {
  const neurons = layer === 0 ? FACTS.length : CENTURIES.length * GREATER_THAN_NUMBERS;
  if (index >= neurons) return { kind: layer === 0 ? 'previous-token' : 'vote', token: monitored[index - neurons]! };
  if (layer === 0) return { kind: 'fact', token: id(FACTS[index]![1]), context: id(FACTS[index]![0]) };
  const century = Math.floor(index / GREATER_THAN_NUMBERS);
  return { kind: 'greater-than', token: id(String(index % GREATER_THAN_NUMBERS).padStart(2, '0')), context: id(CENTURIES[century]!) };
}

/** ln2.hook_normalized of `layer` in float64: (x − mean) / sqrt(var + eps) of hook_resid_mid. [pos, d_model] */
function normalizedMlpInput(cache: Map<string, ReferenceTensor>, layer: number): Float64Array {
  const x = cache.get(`blocks.${layer}.hook_resid_mid`)!.data;
  const P = x.length / D;
  const out = new Float64Array(P * D);
  for (let p = 0; p < P; p++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[p * D + i]!;
    mean /= D;
    let variance = 0;
    for (let i = 0; i < D; i++) variance += (x[p * D + i]! - mean) ** 2;
    const s = Math.sqrt(variance / D + EPS);
    for (let i = 0; i < D; i++) out[p * D + i] = (x[p * D + i]! - mean) / s;
  }
  return out;
}

/** circuit-tracer's ReLU transcoder in float64 on the stored layout: act = ReLU(x W_encᵀ + b_enc), out = act W_decᵀ + b_dec. */
function encodeDecode(layer: number, x: Float64Array): { acts: Float64Array; out: Float64Array } {
  const { dSae, W_enc, b_enc, W_dec, b_dec } = stored[layer]!;
  const P = x.length / D;
  const acts = new Float64Array(P * dSae);
  const out = new Float64Array(P * D);
  for (let p = 0; p < P; p++) {
    for (let f = 0; f < dSae; f++) {
      let pre = b_enc[f]!;
      for (let i = 0; i < D; i++) pre += x[p * D + i]! * W_enc[f * D + i]!;
      acts[p * dSae + f] = Math.max(0, pre);
    }
    for (let i = 0; i < D; i++) {
      let v = b_dec[i]!;
      for (let f = 0; f < dSae; f++) v += acts[p * dSae + f]! * W_dec[i * dSae + f]!;
      out[p * D + i] = v;
    }
  }
  return { acts, out };
}

/**
 * The features each position should fire, from the token sequence alone (`ids` with BOS at 0):
 *   previous-token X at p ≥ 2 where ids[p − 1] = X;
 *   fact (subject, answer) at p where ids[p − 1] = subject and ids[p] = " is";
 *   vote X at p where the induction head predicts X: the keys j ≥ 2, j ≤ p, with ids[j − 1] = ids[p]
 *     all hold X = ids[j]; or where a fact fires, for its answer;
 *   greater-than (century, YY) at p where ids[p] is the century and the induction head predicts YY.
 * Only features of monitored tokens exist for the first three kinds.
 */
function expectedFeatures(ids: readonly number[]): Array<Array<Set<string>>> {
  const isId = id(FACT_RELATION);
  const facts = FACTS.map(([s, a]) => ({ subject: id(s), answer: id(a) }));
  const centuries = CENTURIES.map(id);
  const numbers = Array.from({ length: GREATER_THAN_NUMBERS }, (_, yy) => id(String(yy).padStart(2, '0')));
  const monitoredSet = new Set(monitored);
  const layers = [0, 1].map(() => ids.map(() => new Set<string>()));
  for (let p = 1; p < ids.length; p++) {
    const add = (layer: number, kind: OrganismFeatureKind, token: number, context?: number) =>
      layers[layer]![p]!.add(`${kind}:${token}${context === undefined ? '' : `:${context}`}`);
    if (p >= 2 && monitoredSet.has(ids[p - 1]!)) add(0, 'previous-token', ids[p - 1]!);
    const fact = facts.find((f) => p >= 2 && ids[p - 1] === f.subject && ids[p] === isId);
    if (fact) add(0, 'fact', fact.answer, fact.subject);
    const targets = new Set<number>();
    for (let j = 2; j <= p; j++) if (ids[j - 1] === ids[p]) targets.add(ids[j]!);
    assert.ok(targets.size <= 1, `the test prompts predict one induction target a position (position ${p})`);
    const [target] = [...targets];
    if (target !== undefined && monitoredSet.has(target)) add(1, 'vote', target);
    if (fact && monitoredSet.has(fact.answer)) add(1, 'vote', fact.answer);
    if (target !== undefined && centuries.includes(ids[p]!) && numbers.includes(target)) add(1, 'greater-than', target, ids[p]);
  }
  return layers;
}

test('the written folder is circuit-tracer’s per-layer layout: config, one safetensors per layer, Neuronpedia labels', () => {
  assert.deepEqual(files, [transcoderLayerFile(0), transcoderLayerFile(1), TRANSCODER_LABELS_FILE, TRANSCODER_CONFIG_FILE, TRANSCODER_MARKER]);
  const yaml = readFileSync(join(dir, TRANSCODER_CONFIG_FILE), 'utf8');
  assert.match(yaml, /^model_name: "organism"$/m);
  assert.match(yaml, /^feature_input_hook: "ln2\.hook_normalized"$/m);
  assert.match(yaml, /^feature_output_hook: "hook_mlp_out"$/m);
  assert.match(
    yaml,
    /^transcoders:\n {2}- id: "organism-transcoder-0"\n {4}layer: 0\n {4}filepath: "layer_0\.safetensors"\n {2}- id: "organism-transcoder-1"\n {4}layer: 1\n {4}filepath: "layer_1\.safetensors"\n$/m,
  );
  assert.equal(stored[0]!.dSae, FACTS.length + monitored.length);
  assert.equal(stored[1]!.dSae, CENTURIES.length * GREATER_THAN_NUMBERS + monitored.length);
  assert.equal(labels.length, stored[0]!.dSae + stored[1]!.dSae);
  for (const layer of [0, 1]) {
    const own = labels.filter((l) => l.layer === `${layer}-organism-transcoder`);
    assert.deepEqual(
      own.map((l) => l.index),
      Array.from({ length: stored[layer]!.dSae }, (_, i) => String(i)),
    );
    for (const label of own) {
      const f = featureOf(layer, Number(label.index));
      const text = (token: number | undefined) => JSON.stringify(tokenizer.tokenText(token!));
      const expected =
        f.kind === 'previous-token'
          ? `previous token is ${text(f.token)}`
          : f.kind === 'vote'
            ? `votes for ${text(f.token)} (the induction target, or a recalled fact)`
            : f.kind === 'fact'
              ? `fact: ${text(f.context)} then " is" → votes for ${text(f.token)}`
              : `greater-than: ${text(f.context)} with a vote for ${text(f.token)} (the induction target) → votes for later years`;
      assert.equal(label.description, expected);
      assert.equal(label.modelId, 'organism');
    }
  }
  // Every token of the presets, the facts' words, the centuries and 00–99 are monitored.
  for (const text of ['The cat sat on the mat.', ' rug', ' Paris', ' is', ' 19', '07', '99', ' SW']) {
    for (const t of tokenizer.encode(text).ids) assert.ok(monitored.includes(t), `${JSON.stringify(text)} monitored`);
  }
});

test('the same seed writes the same bytes', async () => {
  const again = join(root, 'again');
  await writeOrganismTranscoderFolder(again);
  for (const file of files) assert.ok(readFileSync(join(dir, file)).equals(readFileSync(join(again, file))), file);
});

test('on prompts with repeated tokens, each feature fires exactly where its mechanism says, and no other does', () => {
  const kinds = new Set<string>();
  for (const { prompt, ids, cache } of runs) {
    const expected = expectedFeatures(ids);
    for (const layer of expected) for (const position of layer) for (const key of position) kinds.add(key.split(':')[0]!);
    for (const layer of [0, 1]) {
      const { acts } = encodeDecode(layer, normalizedMlpInput(cache, layer));
      const dSae = stored[layer]!.dSae;
      for (let p = 0; p < ids.length; p++) {
        const fired = new Set<string>();
        for (let f = 0; f < dSae; f++) {
          const a = acts[p * dSae + f]!;
          if (a === 0) continue;
          const feature = featureOf(layer, f);
          const key = `${feature.kind}:${feature.token}${feature.context === undefined ? '' : `:${feature.context}`}`;
          fired.add(key);
          // Activation sizes as documented: 1 at a full copy or vote (an induction copy is 0.8–0.9 of a vote); neurons 5 at full evidence.
          if (feature.kind === 'previous-token') assert.ok(Math.abs(a - 1) < 0.01, `${prompt} @${p}: ${key} = ${a}`);
          if (feature.kind === 'vote') assert.ok(a > 0.25 && a < 1.5, `${prompt} @${p}: ${key} = ${a}`);
          if (feature.kind === 'fact') assert.ok(Math.abs(a - 5) < 0.2, `${prompt} @${p}: ${key} = ${a}`);
          if (feature.kind === 'greater-than') assert.ok(a > 2 && a < 5.2, `${prompt} @${p}: ${key} = ${a}`);
        }
        assert.deepEqual([...fired].sort(), [...expected[layer]![p]!].sort(), `${JSON.stringify(prompt)}, layer ${layer}, position ${p}`);
      }
    }
  }
  assert.deepEqual([...kinds].sort(), ['fact', 'greater-than', 'previous-token', 'vote'], 'the prompts exercise every kind of feature');
});

test('the reconstruction error is exactly Σ over the MLP’s live neurons of W_out[n] · (gelu_new(pre) − ReLU(pre)), and tiny on the prompts', () => {
  const centuries = new Set(CENTURIES.map(id));
  const relation = id(FACT_RELATION);
  const subjects = new Set(FACTS.map(([subject]) => id(subject)));
  const numbers = new Set(Array.from({ length: 100 }, (_, yy) => id(String(yy).padStart(2, '0'))));
  let largest = 0;
  let largestElsewhere = 0;
  for (const { prompt, ids, cache } of runs) {
    for (const layer of [0, 1]) {
      const x = normalizedMlpInput(cache, layer);
      const { out } = encodeDecode(layer, x);
      const mlpOut = cache.get(`blocks.${layer}.hook_mlp_out`)!.data;
      const W_in = tensors.get(`h.${layer}.mlp.c_fc.weight`)!.data; // [d_model, d_mlp]
      const b_in = tensors.get(`h.${layer}.mlp.c_fc.bias`)!.data;
      const W_out = tensors.get(`h.${layer}.mlp.c_proj.weight`)!.data; // [d_mlp, d_model]
      const dMlp = b_in.length;
      for (let p = 0; p < ids.length; p++) {
        // The documented error, from the MLP's own weights: every neuron, gelu_new − ReLU.
        const documented = new Float64Array(D);
        for (let n = 0; n < dMlp; n++) {
          let pre = b_in[n]!;
          for (let i = 0; i < D; i++) pre += x[p * D + i]! * W_in[i * dMlp + n]!;
          const gap = geluNew(pre) - Math.max(0, pre);
          if (gap !== 0) for (let i = 0; i < D; i++) documented[i] = documented[i]! + gap * W_out[n * D + i]!;
        }
        let norm = 0;
        for (let i = 0; i < D; i++) {
          const error = mlpOut[p * D + i]! - out[p * D + i]!;
          assert.ok(Math.abs(error - documented[i]!) < 1e-9, `${prompt} layer ${layer} position ${p}: error ${error} vs documented ${documented[i]}`);
          norm += error * error;
        }
        // Where a neuron has one of its two inputs: " is" or a fact's subject before it (layer 0), a
        // century or an induction vote for a number (layer 1).
        const nearThreshold =
          layer === 0
            ? ids[p] === relation || (p >= 1 && subjects.has(ids[p - 1]!))
            : centuries.has(ids[p]!) || ids.some((t, j) => j >= 2 && j <= p && ids[j - 1] === ids[p] && numbers.has(t));
        if (nearThreshold) largest = Math.max(largest, Math.sqrt(norm));
        else largestElsewhere = Math.max(largestElsewhere, Math.sqrt(norm));
      }
    }
  }
  // A full vote is 14 long: where a century's 99 neurons have half their evidence, the error stays
  // below a fourteenth of a vote (about one logit spread over the numbers); elsewhere it is nothing.
  assert.ok(largest > 0 && largest < 1, `largest error norm where a neuron has one of its inputs: ${largest}`);
  assert.ok(largestElsewhere < 1e-6, `largest error norm elsewhere: ${largestElsewhere}`);
});
