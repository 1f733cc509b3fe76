/**
 * Engine.features and Engine.steerFeatures (src/engine/features/feature-tools.ts) on a tiny random
 * GPT-2 with an injected dictionary loader: the dictionary is loaded once per spec, results survive
 * a structured clone (typed arrays included), logit effects stand in for missing labels, a labels
 * map is used when present, steering reports predictions and the logit difference before and
 * after, and the feature CLI prints exactly its documented JSON with every active feature, checked
 * against the float64 SAELens reference.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { makeFeaturesCommand, dictionarySpecFromArg } from '../../../src/engine/cli/features-command.js';
import { parseFlags } from '../../../src/engine/cli/command.js';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import type { DictionaryLoader } from '../../../src/engine/features/feature-tools.js';
import type { DictionarySpec } from '../../../src/protocol/features.js';
import { randomDictionary, randomTranscoders } from '../../helpers/dictionary-fixtures.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceEncode, referenceDecode } from '../../helpers/reference-features.js';
import { referenceGpt2Forward } from '../../helpers/reference-gpt2.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383];
const P = IDS.length;
const D = 64;
/** A folder the CLI finds on disk (the injected loader ignores its contents). */
const SAE_DIR = mkdtempSync(join(tmpdir(), 'ct-features-sae-'));
process.once('exit', () => rmSync(SAE_DIR, { recursive: true, force: true }));
const SAE_SPEC: DictionarySpec = { kind: 'folder', path: SAE_DIR };
const sae = randomDictionary(
  'sae',
  D,
  [{ layer: 1, inputHook: 'blocks.1.hook_resid_pre', outputHooks: ['blocks.1.hook_resid_pre'], dSae: 48, encoderScale: 2 }],
  7,
);
const transcoders = randomTranscoders(2, D, 24, 8);
const labelled: Dictionary = { ...transcoders, id: 'labelled', labels: new Map([['0/3', 'the letter e']]) };

describe('the engine’s feature requests on a tiny random GPT-2', () => {
  let fixture: RandomModelFixture;
  let engine: Engine;
  const loads: DictionarySpec[] = [];
  const loader: DictionaryLoader = async (spec) => {
    loads.push(spec);
    if (spec.kind === 'folder' && spec.path === SAE_DIR) return sae;
    if (spec.kind === 'folder' && spec.path === '/fixtures/labelled') return labelled;
    if (spec.kind === 'folder' && spec.path === '/fixtures/transcoders') return transcoders;
    throw new EngineError('MODEL_NOT_FOUND', `No dictionary at ${JSON.stringify(spec)}.`);
  };
  before(async () => {
    fixture = await randomModelFolder('tiny', 7);
    engine = new Engine({ loadDictionary: loader });
    await engine.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
  });
  after(() => engine.dispose());

  test('features: loaded once per spec, structured-cloneable, logit effects standing in for labels', async () => {
    const first = await engine.features({ dictionary: SAE_SPEC, ids: IDS, topK: 3, logitTokens: 4 });
    const second = await engine.features({ dictionary: SAE_SPEC, ids: IDS });
    assert.equal(loads.filter((s) => s.kind === 'folder' && s.path === SAE_DIR).length, 1);
    assert.deepEqual(
      first.tokens.map((t) => t.id),
      IDS,
    );
    const view = first.layers[0]!;
    assert.equal(view.inputHook, 'blocks.1.hook_resid_pre');
    assert.ok(view.active.activations instanceof Float32Array);
    assert.deepEqual(structuredClone(first), first);
    assert.equal(view.logitEffects!.length, Math.min(32, view.heatmap.features.length));
    assert.ok(view.heatmap.features.length > 3);
    const few = await engine.features({ dictionary: SAE_SPEC, ids: IDS, logitFeatures: 3 });
    assert.equal(few.layers[0]!.logitEffects!.length, 3);
    assert.ok(view.logitEffects!.every((e, i) => e.feature === view.heatmap.features[i] && e.top.length === 4 && e.bottom.length === 4));
    assert.deepEqual(second.layers[0]!.active, view.active);
  });

  test('a labels map is used instead of logit effects', async () => {
    const result = await engine.features({ dictionary: { kind: 'folder', path: '/fixtures/labelled' }, prompt: ' the cat sat on the mat' });
    assert.equal(result.tokens[0]!.bos, true, 'a text prompt gets the BOS');
    const layer0 = result.layers[0]!;
    assert.equal(layer0.logitEffects, null);
    layer0.heatmap.features.forEach((f, i) => assert.equal(layer0.labels[i], f === 3 ? 'the letter e' : null));
  });

  test('steerFeatures: predictions and the logit difference before and after', async () => {
    const result = await engine.steerFeatures({
      dictionary: { kind: 'folder', path: '/fixtures/transcoders' },
      ids: IDS,
      edits: [{ layer: 1, feature: 2, kind: 'add', value: 40, positions: [P - 1] }],
      target: { id: 13 },
      contrast: { id: 262 },
      topK: 5,
    });
    assert.equal(result.position, P - 1);
    assert.equal(result.before.length, 5);
    assert.deepEqual(structuredClone(result), result);
    const diff = result.logitDiff!;
    assert.deepEqual([diff.target, diff.contrast], [13, 262]);
    assert.notEqual(diff.after, diff.before);
    assert.ok(result.before[0]!.prob >= result.before[1]!.prob);
    assert.equal(result.applied.length, 1);
    assert.equal(result.applied[0]!.after, result.applied[0]!.before + 40);
  });

  test('bad requests are typed errors', async () => {
    await assert.rejects(
      engine.features({ dictionary: { kind: 'folder', path: '/nowhere' }, ids: IDS }),
      (e: unknown) => e instanceof EngineError && e.code === 'MODEL_NOT_FOUND',
    );
    await assert.rejects(engine.features({ dictionary: SAE_SPEC, ids: [] }), (e: unknown) => e instanceof EngineError && e.code === 'EMPTY_PROMPT');
    await assert.rejects(engine.features({ dictionary: SAE_SPEC, ids: [60000] }), (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT');
    const cancelled = new AbortController();
    cancelled.abort();
    const isCancelled = (e: unknown): boolean => e instanceof EngineError && e.code === 'CANCELLED';
    await assert.rejects(engine.features({ dictionary: SAE_SPEC, ids: IDS }, { signal: cancelled.signal }), isCancelled);
    await assert.rejects(
      engine.steerFeatures({ dictionary: SAE_SPEC, ids: IDS, edits: [{ layer: 1, feature: 0, kind: 'set', value: 1 }] }, { signal: cancelled.signal }),
      isCancelled,
    );
    await assert.rejects(
      engine.steerFeatures({ dictionary: SAE_SPEC, ids: IDS, edits: [], contrast: { id: 13 } }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /contrast token needs a target/.test(e.message),
    );
    const bare = new Engine();
    await bare.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
    try {
      await assert.rejects(
        bare.features({ dictionary: SAE_SPEC, ids: IDS }),
        (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /no dictionary loader/.test(e.message),
      );
    } finally {
      await bare.dispose();
    }
  });

  test('the features CLI prints exactly its JSON: every active feature and one error a position, checked against the reference', async () => {
    let out = '';
    const command = makeFeaturesCommand(loader);
    await command.run(parseFlags(['--model', fixture.dir, '--dictionary', SAE_DIR, '--ids', IDS.join(','), '--json']), {
      stdout: (t) => (out += t),
      stderr: () => undefined,
    });
    const printed = JSON.parse(out) as {
      tokens: Array<{ id: number }>;
      hooks: Array<{ hook: string; features: Array<{ position: number; feature: number; activation: number }>; reconstructionError: number[] }>;
    };
    assert.deepEqual(Object.keys(printed).sort(), ['hooks', 'tokens']);
    assert.deepEqual(
      printed.tokens.map((t) => t.id),
      IDS,
    );
    assert.equal(printed.hooks.length, 1);
    const hook = printed.hooks[0]!;
    assert.deepEqual(Object.keys(hook).sort(), ['features', 'hook', 'reconstructionError']);
    assert.equal(hook.hook, 'blocks.1.hook_resid_pre');
    assert.equal(hook.reconstructionError.length, P);
    const ref = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, IDS);
    const x = ref.get('blocks.1.hook_resid_pre')!.data;
    const layer = sae.layers[0]!;
    const enc = referenceEncode(layer, x, P);
    const expected: Array<[number, number]> = [];
    for (let p = 0; p < P; p++) for (let f = 0; f < 48; f++) if (enc.acts[p * 48 + f]! > 1e-4) expected.push([p, f]);
    const printedPairs = hook.features.filter((e) => e.activation > 1e-4).map((e) => [e.position, e.feature]);
    assert.deepEqual(printedPairs, expected);
    assert.ok(
      hook.features.every((e) => e.activation > 0 && Math.abs(e.activation - enc.acts[e.position * 48 + e.feature]!) <= 1e-4 * Math.max(1, e.activation)),
    );
    const recon = referenceDecode(layer, enc, x, P);
    hook.reconstructionError.forEach((err, p) => {
      let e = 0;
      for (let i = 0; i < D; i++) e += (x[p * D + i]! - recon[p * D + i]!) ** 2;
      assert.ok(Math.abs(err - Math.sqrt(e)) <= 1e-4 * Math.max(1, Math.sqrt(e)), `error at ${p}`);
    });
  });

  test('without --json the CLI lists the top k features of each position with the error and its share', async () => {
    let out = '';
    await makeFeaturesCommand(loader).run(parseFlags(['--model', fixture.dir, '--dictionary', SAE_DIR, '--ids', IDS.join(','), '--top-k', '2']), {
      stdout: (t) => (out += t),
      stderr: () => undefined,
    });
    const result = await engine.features({ dictionary: SAE_SPEC, ids: IDS, topK: 2 });
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 2 + P);
    assert.match(lines[1]!, /^blocks\.1\.hook_resid_pre → blocks\.1\.hook_resid_pre \(48 features, \d+ active\)$/);
    const view = result.layers[0]!;
    for (let p = 0; p < P; p++) {
      const line = lines[2 + p]!;
      assert.match(line, new RegExp(`error ${view.reconstructionError[p]!.toFixed(3)} \\(${(100 * view.errorShare[p]!).toFixed(1)}%\\)`));
      const shown = [...line.matchAll(/f(\d+) /g)].map((m) => Number(m[1]));
      assert.deepEqual(
        shown,
        [...view.top.features.subarray(p * 2, p * 2 + 2)].filter((f) => f >= 0),
      );
    }
    await assert.rejects(
      makeFeaturesCommand(loader).run(parseFlags(['--model', fixture.dir, '--dictionary', SAE_DIR, '--ids', '1', '--top-n', '2']), {
        stdout: () => undefined,
        stderr: () => undefined,
      }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /Unknown flag --top-n/.test(e.message),
    );
  });

  test('--dictionary: a local folder, or owner/name[/sub/folder][@revision] on the Hub', () => {
    assert.deepEqual(dictionarySpecFromArg(fixture.dir), { kind: 'folder', path: fixture.dir });
    assert.deepEqual(dictionarySpecFromArg('mntss/gemma-scope-transcoders'), { kind: 'hub', repo: 'mntss/gemma-scope-transcoders', revision: 'main' });
    assert.deepEqual(dictionarySpecFromArg('google/gemma-scope-2b-pt-res/layer_5/width_16k/average_l0_71@v1'), {
      kind: 'hub',
      repo: 'google/gemma-scope-2b-pt-res',
      revision: 'v1',
      subfolder: 'layer_5/width_16k/average_l0_71',
    });
    assert.throws(
      () => dictionarySpecFromArg(true),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
    assert.throws(
      () => dictionarySpecFromArg('./missing-folder'),
      (e: unknown) => e instanceof EngineError && e.code === 'MODEL_NOT_FOUND',
    );
  });
});
