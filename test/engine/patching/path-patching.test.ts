/**
 * Path patching against its definition re-run in float64 (test/helpers/reference-path-patching.ts)
 * at 1e-5 of |clean − corrupt|: on a random 3-layer GPT-2 (receivers the logits, queries of a later
 * layer, keys and values), on the model organism, on a random Llama with grouped-query attention
 * (receivers per kv head), and on random Gemma 2, Gemma 3 and GPT-NeoX (parallel and sequential).
 * Also: hook_q / hook_k / hook_v row patches in the block graphs (and a single-component patch
 * sweep of q, k or v) equal the reference with the same patch, interventions that end early,
 * streaming, cancellation and the typed errors of bad receivers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { gpt2HfTensorsFromCanonical, type HfTensor } from '../../../src/engine/model/hf-gpt2-layout.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { generateOrganism } from '../../../src/engine/organism/index.js';
import { runPatchSweep } from '../../../src/engine/patching/index.js';
import { runPathPatching, type PathPatchRequest, type PathPatchResult } from '../../../src/engine/patching/path-patching.js';
import { parseReceivers } from '../../../src/engine/patching/path-receivers.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { ZPatch } from '../../../src/engine/runtime/types.js';
import { tensor } from '../../../src/engine/tensor.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import { referenceGpt2Forward, type ReferenceGpt2Config } from '../../helpers/reference-gpt2.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';
import { referencePathPatching, type ReferenceForward, type ReferenceReceivers } from '../../helpers/reference-path-patching.js';

// Prompts that share their first token and differ at positions 1, 8 and 9.
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const TARGET = 3332,
  CONTRAST = 1110;

/** Multiplies the named tensors by `k`, or the first `columns` columns of [rows, cols] ones: sharper attention, so paths carry real signal. */
function scaled(tensors: readonly HfTensor[], rules: ReadonlyArray<{ match: RegExp; k: number; columns?: number }>): HfTensor[] {
  return tensors.map((t) => {
    const rule = rules.find((r) => r.match.test(t.name));
    if (!rule) return t;
    const cols = t.shape.at(-1)!;
    const data = t.data.map((x, i) => (rule.columns === undefined || i % cols < rule.columns ? x * rule.k : x));
    return { ...t, data };
  });
}

/** The checkpoint written as a Hugging Face folder and loaded as a user's would be (the folder removed once loaded). */
async function folderModel(config: object, tensors: readonly HfTensor[], name: string): Promise<{ model: InstrumentedModel; tokenizer: PromptTokenizer }> {
  const dir = mkdtempSync(join(tmpdir(), `ct-path-${name}-`));
  try {
    await writeHfFolder(dir, { config, tensors: [...tensors], tokenizerJson: loadGpt2TokenizerJson() });
    const loaded = await loadModelFolder(dir);
    return { model: await InstrumentedModel.create(loaded.model, { device: 'cpu' }), tokenizer: loaded.tokenizer };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The engine's entries equal the reference's at 1e-5 of |clean − corrupt|, and some paths carry signal. */
function assertMatchesReference(result: PathPatchResult, ref: ReturnType<typeof referencePathPatching>, what: string, minMoved = 1): void {
  const denominator = Math.abs(ref.cleanLogitDiff - ref.corruptLogitDiff);
  assert.ok(denominator > 1e-2, `${what}: clean and corrupt differ by ${denominator}`);
  const tol = 1e-5 * denominator;
  assert.ok(Math.abs(result.cleanLogitDiff - ref.cleanLogitDiff) <= tol, `${what}: clean ${result.cleanLogitDiff} vs ${ref.cleanLogitDiff}`);
  assert.ok(Math.abs(result.corruptLogitDiff - ref.corruptLogitDiff) <= tol, `${what}: corrupt ${result.corruptLogitDiff} vs ${ref.corruptLogitDiff}`);
  assert.deepEqual(
    result.entries.map((e) => [e.layer, e.head]),
    ref.entries.map((e) => [e.layer, e.head]),
    `${what}: senders`,
  );
  let moved = 0;
  result.entries.forEach((e, i) => {
    const r = ref.entries[i]!;
    assert.ok(
      Math.abs(e.logitDiff - r.logitDiff) <= tol,
      `${what}: L${e.layer}H${e.head} logitDiff ${e.logitDiff} vs reference ${r.logitDiff} (tolerance ${tol})`,
    );
    const normalized = (r.logitDiff - ref.cleanLogitDiff) / (ref.cleanLogitDiff - ref.corruptLogitDiff);
    assert.ok(Math.abs(e.normalized - normalized) <= 2e-5, `${what}: L${e.layer}H${e.head} normalized ${e.normalized} vs ${normalized}`);
    if (Math.abs(normalized) > 1e-3) moved++;
  });
  assert.ok(moved >= minMoved, `${what}: only ${moved} senders moved the logit difference by more than 1e-3 of clean − corrupt`);
}

describe('path patching on a random 3-layer GPT-2', () => {
  const random = generateRandomGpt2({ shape: { nLayers: 3, nHeads: 4, dModel: 64, dMlp: 256, nCtx: 32, dVocab: 50257 } }, 41);
  const tensors = scaled(random.tensors, [
    { match: /attn\.c_attn\.weight$/, k: 5, columns: 2 * 64 },
    { match: /attn\.c_proj\.weight$/, k: 6 },
  ]);
  const refConfig: ReferenceGpt2Config = { n_layer: 3, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
  const weights = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const forward: ReferenceForward = (ids, intervene) => referenceGpt2Forward(weights, refConfig, ids, intervene ? { intervene } : {});
  let model: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  before(async () => {
    ({ model, tokenizer } = await folderModel(random.config, tensors, 'gpt2'));
  });
  after(() => model.dispose());
  const request = (receivers: string): PathPatchRequest => ({
    cleanIds: CLEAN,
    corruptIds: CORRUPT,
    target: { id: TARGET },
    contrast: { id: CONTRAST },
    receivers,
  });

  const cases: Array<[string, ReferenceReceivers]> = [
    ['logits', 'logits'],
    [
      'L2H1:q,L2H3:q',
      [
        { layer: 2, head: 1, input: 'q' },
        { layer: 2, head: 3, input: 'q' },
      ],
    ],
    [
      'L1H0:k,L2H2:v,L2H0:q',
      [
        { layer: 1, head: 0, input: 'k' },
        { layer: 2, head: 2, input: 'v' },
        { layer: 2, head: 0, input: 'q' },
      ],
    ],
  ];
  for (const [spec, receivers] of cases) {
    test(`receivers ${spec}: every sender equals the float64 re-run of the definition`, async () => {
      const result = await runPathPatching(model, tokenizer, request(spec));
      assert.equal(result.receivers, spec);
      assertMatchesReference(result, referencePathPatching(forward, { nLayers: 3, nHeads: 4 }, CLEAN, CORRUPT, receivers, TARGET, CONTRAST), spec, 3);
    });
  }

  test('senders split over several calls (a tiny memory budget) give the same entries, streamed in order', async () => {
    const whole = await runPathPatching(model, tokenizer, request('L2H1:q,L2H3:q'));
    const reports: number[] = [];
    const split = await runPathPatching(model, tokenizer, request('L2H1:q,L2H3:q'), {
      memoryBudgetBytes: 1,
      onProgress: (p) => reports.push(p.done, p.total, p.entries.length),
    });
    assert.deepEqual(reports, Array.from({ length: 8 }, (_, i) => [i + 1, 8, 1]).flat());
    split.entries.forEach((e, i) => assert.ok(Math.abs(e.logitDiff - whole.entries[i]!.logitDiff) <= 1e-5, `L${e.layer}H${e.head}`));
  });

  test('identical prompts: every path leaves the clean logit difference', async () => {
    const result = await runPathPatching(model, tokenizer, { ...request('logits'), corruptIds: CLEAN });
    for (const e of result.entries) assert.ok(Math.abs(e.logitDiff - result.cleanLogitDiff) < 1e-5, `L${e.layer}H${e.head}`);
    assert.ok(result.entries.every((e) => Number.isNaN(e.normalized)));
  });

  test('cancellation: an aborted signal stops the run with CANCELLED', async () => {
    const controller = new AbortController();
    await assert.rejects(
      runPathPatching(model, tokenizer, request('logits'), {
        memoryBudgetBytes: 1,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
      (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED',
    );
  });

  test('hook_q / hook_k / hook_v row patches in the block graph equal the reference with the same patch', async () => {
    const rng = (i: number): number => Math.sin(i * 12.9898) * 0.7;
    const value = (seed: number): Float32Array => Float32Array.from({ length: P * 16 }, (_, i) => rng(i + seed));
    const patches: ZPatch[] = [
      { layer: 1, hook: 'attn.hook_q', head: 2, positions: [3, 9], value: tensor(value(1), [P, 16]) },
      { layer: 1, hook: 'attn.hook_k', head: 0, value: tensor(value(2), [P, 16]) },
      { layer: 2, hook: 'attn.hook_v', head: 3, positions: [5], value: tensor(value(3), [P, 16]) },
    ];
    const names = ['blocks.1.attn.hook_q', 'blocks.1.attn.hook_k', 'blocks.2.attn.hook_v', 'blocks.2.attn.hook_z', 'logits'] as const;
    const [result] = await model.intervene({ ids: CLEAN, variants: [{ zPatches: patches }], hooks: [...names] });
    const ref = forward(CLEAN, (name, t) => {
      const mine = patches.filter((p) => name === `blocks.${p.layer}.${p.hook}`);
      if (mine.length === 0) return;
      const data = t.data.slice();
      for (const p of mine)
        for (const pos of p.positions ?? [...Array(P).keys()]) for (let e = 0; e < 16; e++) data[(pos * 4 + p.head) * 16 + e] = p.value.data[pos * 16 + e]!;
      return { shape: [...t.shape], data };
    });
    for (const name of names) {
      const a = result!.cache.get(name)!.data;
      const e = ref.get(name)!.data;
      let diff = 0;
      for (let i = 0; i < e.length; i++) diff = Math.max(diff, Math.abs(a[i]! - e[i]!));
      assert.ok(diff < 1e-4, `${name} differs by ${diff}`);
    }
  });

  test("a single-component patch sweep of a head's q, k or v equals the reference corrupted run with that clean input", async () => {
    const clean = forward(CLEAN);
    let moved = 0;
    for (const [hook, layer, head, position] of [
      ['q', 2, 1, undefined],
      ['k', 2, 0, undefined],
      ['k', 1, 2, 8],
      ['v', 2, 3, undefined],
    ] as const) {
      const result = await runPatchSweep(model, tokenizer, {
        cleanIds: CLEAN,
        corruptIds: CORRUPT,
        target: { id: TARGET },
        contrast: { id: CONTRAST },
        kind: 'single',
        component: { hook, layer, head, ...(position !== undefined ? { position } : {}) },
      });
      const name = `blocks.${layer}.attn.hook_${hook}`;
      const ref = forward(CORRUPT, (n, t) => {
        if (n !== name) return;
        const data = t.data.slice();
        for (const p of position !== undefined ? [position] : [...Array(P).keys()])
          for (let e = 0; e < 16; e++) data[(p * 4 + head) * 16 + e] = clean.get(name)!.data[(p * 4 + head) * 16 + e]!;
        return { shape: [...t.shape], data };
      });
      const logits = ref.get('logits')!.data;
      const V = 50257;
      const expected = logits[(P - 1) * V + TARGET]! - logits[(P - 1) * V + CONTRAST]!;
      const entry = result.entries[0]!;
      // The effects are small (a random model's q and k change little between the prompts), the float32 error smaller still.
      assert.ok(Math.abs(entry.logitDiff - expected) < 2e-6, `${name}: ${entry.logitDiff} vs reference ${expected}`);
      if (Math.abs(entry.logitDiff - result.corrupt.logitDiff) > 1e-4) moved++;
    }
    assert.equal(moved, 4, 'every patch moves the logit difference');
  });

  test('an intervention that ends early (endLayer) runs the blocks below it only: the same hooks there, none above, no logits', async () => {
    const hooks = ['blocks.0.attn.hook_z', 'blocks.1.attn.hook_q', 'blocks.1.hook_resid_post', 'blocks.2.attn.hook_q'] as const;
    const [full] = await model.intervene({ ids: CLEAN, variants: [{}], hooks: [...hooks] });
    const [early] = await model.intervene({ ids: CLEAN, variants: [{}], hooks: [...hooks], endLayer: 2 });
    for (const name of hooks.slice(0, 3)) assert.deepEqual(early!.cache.get(name)!.data, full!.cache.get(name)!.data, name);
    assert.equal(early!.cache.has('blocks.2.attn.hook_q'), false);
    const bad = (e: unknown): boolean => e instanceof EngineError && e.code === 'BAD_ARGUMENT';
    await assert.rejects(model.intervene({ ids: CLEAN, variants: [{}], hooks: ['logits'], endLayer: 2 }), bad);
    await assert.rejects(model.intervene({ ids: CLEAN, variants: [{}], hooks: [], scoreTokens: [TARGET], endLayer: 1 }), bad);
    await assert.rejects(model.intervene({ ids: CLEAN, variants: [{}], hooks: [], endLayer: 4 }), bad);
  });

  describe('bad receivers and prompts get typed errors', () => {
    const rejects = (receivers: string, pattern: RegExp, extra: Partial<PathPatchRequest> = {}, code = 'BAD_ARGUMENT') =>
      assert.rejects(runPathPatching(model, tokenizer, { ...request(receivers), ...extra }), (e: unknown) => {
        assert.ok(e instanceof EngineError, String(e));
        assert.equal(e.code, code);
        assert.match(e.message, pattern);
        return true;
      });
    test('a layer that does not exist', () => rejects('L3H0:q', /layer 3 does not exist/));
    test('a head that does not exist', () => rejects('L2H4:k', /head 4 does not exist/));
    test('malformed receivers', async () => {
      await rejects('L2H1', /Malformed receivers "L2H1": "L2H1" is not a receiver/);
      await rejects('L2H1:x', /is not a receiver/);
      await rejects('logits,L2H1:q', /"logits" cannot be combined/);
      await rejects(' ', /empty/);
    });
    test('receivers before every sender (layer 0)', () => rejects('L0H1:q,L0H2:v', /layer 0, before every sender/));
    test('prompts of different lengths', () => rejects('logits', /patching needs the same length/, { corruptIds: CORRUPT.slice(1) }, 'LENGTH_MISMATCH'));
  });
});

test('parseReceivers: canonical forms, case and spaces, duplicates dropped', () => {
  assert.deepEqual(parseReceivers(' Logits '), { kind: 'logits' });
  assert.deepEqual(parseReceivers('l9h6:Q, L9H9:q,L9H6:q'), {
    kind: 'heads',
    heads: [
      { layer: 9, head: 6, input: 'q' },
      { layer: 9, head: 9, input: 'q' },
    ],
  });
});

describe('path patching on the model organism', () => {
  const organism = generateOrganism();
  const hf = gpt2HfTensorsFromCanonical(organism.model.weights, organism.model.config).filter((t) => !t.name.endsWith('.attn.bias'));
  const weights = new Map(hf.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const { nLayers, nHeads, dModel } = organism.model.config;
  const refConfig: ReferenceGpt2Config = { n_layer: nLayers, n_head: nHeads, n_embd: dModel, layer_norm_epsilon: organism.model.config.eps };
  const forward: ReferenceForward = (ids, intervene) => referenceGpt2Forward(weights, refConfig, ids, intervene ? { intervene } : {});
  let model: InstrumentedModel;
  const tokenizer = loadTokenizer(organism.tokenizerJson);
  before(async () => {
    model = await InstrumentedModel.create(organism.model, { device: 'cpu' });
  });
  after(() => model.dispose());

  for (const spec of ['logits', `L${nLayers - 1}H0:k,L${nLayers - 1}H1:q`]) {
    test(`receivers ${spec}: equal the float64 re-run of the definition`, async () => {
      const request: PathPatchRequest = {
        clean: 'The cat sat on the mat. The cat sat on the',
        corrupt: 'The dog ran by a rug. The cat sat on the',
        target: { text: ' mat' },
        contrast: { text: ' rug' },
        receivers: spec,
      };
      const result = await runPathPatching(model, tokenizer, request);
      const parsed = parseReceivers(spec);
      const receivers: ReferenceReceivers = parsed.kind === 'logits' ? 'logits' : parsed.heads;
      const ids = (tokens: PathPatchResult['cleanTokens']): number[] => tokens.map((t) => t.id);
      const ref = referencePathPatching(
        forward,
        { nLayers, nHeads },
        ids(result.cleanTokens),
        ids(result.corruptTokens),
        receivers,
        result.targetId,
        result.contrastId,
      );
      assertMatchesReference(result, ref, `organism ${spec}`);
    });
  }
});

describe('path patching on a random Llama (grouped-query attention: k and v receivers are kv heads)', () => {
  const random = generateRandomLlama('llama', 'tiny', 43);
  const tensors = scaled(random.tensors, [
    { match: /self_attn\.(q|k)_proj\.weight$/, k: 3 },
    { match: /self_attn\.o_proj\.weight$/, k: 6 },
  ]);
  const weights = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const forward: ReferenceForward = (ids, intervene) => referenceLlamaForward(weights, random.config, ids, intervene ? { intervene } : {});
  let model: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  before(async () => {
    ({ model, tokenizer } = await folderModel(random.config, tensors, 'llama'));
  });
  after(() => model.dispose());

  const cases: Array<[string, ReferenceReceivers]> = [
    ['logits', 'logits'],
    [
      'L1H3:q,L1H1:k,L1H0:v',
      [
        { layer: 1, head: 3, input: 'q' },
        { layer: 1, head: 1, input: 'k' },
        { layer: 1, head: 0, input: 'v' },
      ],
    ],
  ];
  for (const [spec, receivers] of cases) {
    test(`receivers ${spec}: equal the float64 re-run of the definition`, async () => {
      const result = await runPathPatching(model, tokenizer, {
        cleanIds: CLEAN,
        corruptIds: CORRUPT,
        target: { id: TARGET },
        contrast: { id: CONTRAST },
        receivers: spec,
      });
      assertMatchesReference(result, referencePathPatching(forward, { nLayers: 2, nHeads: 4 }, CLEAN, CORRUPT, receivers, TARGET, CONTRAST), spec);
    });
  }

  test('a kv head beyond the kv heads is refused', async () => {
    await assert.rejects(
      runPathPatching(model, tokenizer, { cleanIds: CLEAN, corruptIds: CORRUPT, target: { id: TARGET }, receivers: 'L1H2:k' }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /kv heads/.test(e.message),
    );
  });
});

/** Rotary families with their own graphs (gemma-graphs.ts, neox-graphs.ts): the same definition on each. */
const ROTARY_CASES: Array<[string, ReferenceReceivers]> = [
  ['logits', 'logits'],
  [
    'L1H3:q,L1H1:k,L1H0:v',
    [
      { layer: 1, head: 3, input: 'q' },
      { layer: 1, head: 1, input: 'k' },
      { layer: 1, head: 0, input: 'v' },
    ],
  ],
];
const ROTARY_MODELS: Array<{
  name: string;
  make: () => { config: Record<string, unknown>; tensors: HfTensor[] };
  forward: typeof referenceLlamaForward;
  scale: Parameters<typeof scaled>[1];
}> = [
  {
    name: 'gemma2 (soft-caps, post-norms)',
    make: () => generateRandomGemma('gemma2', 'tiny', 44),
    forward: (w, c, ids, o) => referenceGemmaForward(w, c, ids, o).hooks,
    scale: [
      { match: /self_attn\.(q|k)_proj\.weight$/, k: 3 },
      { match: /self_attn\.o_proj\.weight$/, k: 6 },
    ],
  },
  {
    name: 'gemma3_text',
    make: () => generateRandomGemma('gemma3_text', 'tiny', 45),
    forward: (w, c, ids, o) => referenceGemmaForward(w, c, ids, o).hooks,
    scale: [
      { match: /self_attn\.(q|k)_proj\.weight$/, k: 3 },
      { match: /self_attn\.o_proj\.weight$/, k: 6 },
    ],
  },
  ...[true, false].map((parallelResidual) => ({
    name: `gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual`,
    make: () => generateRandomGptNeox('tiny', parallelResidual ? 46 : 47, { parallelResidual }),
    forward: referenceGptNeoxForward,
    scale: [
      { match: /attention\.query_key_value\.weight$/, k: 2 },
      { match: /attention\.dense\.weight$/, k: 6 },
    ],
  })),
];
for (const spec of ROTARY_MODELS) {
  describe(`path patching on a random ${spec.name}`, () => {
    const random = spec.make();
    const tensors = scaled(random.tensors, spec.scale);
    const weights = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
    const forward: ReferenceForward = (ids, intervene) => spec.forward(weights, random.config, ids, intervene ? { intervene } : {});
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    before(async () => {
      ({ model, tokenizer } = await folderModel(random.config, tensors, 'rotary'));
    });
    after(() => model.dispose());
    for (const [receivers, reference] of ROTARY_CASES) {
      test(`receivers ${receivers}: equal the float64 re-run of the definition`, async () => {
        const result = await runPathPatching(model, tokenizer, {
          cleanIds: CLEAN,
          corruptIds: CORRUPT,
          target: { id: TARGET },
          contrast: { id: CONTRAST },
          receivers,
        });
        assertMatchesReference(result, referencePathPatching(forward, { nLayers: 2, nHeads: 4 }, CLEAN, CORRUPT, reference, TARGET, CONTRAST), receivers);
      });
    }
  });
}
