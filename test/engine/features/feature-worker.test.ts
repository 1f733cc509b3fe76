/**
 * Features end to end on files: a seeded random transcoder set written by `circuit-trace
 * random-dictionary` is read through the engine's dictionary loader, in the engine's worker (its
 * relay process) and in `circuit-trace features`. The worker's results (typed arrays moved across)
 * are the in-thread engine's, the CLI prints the same features, and both match the float64
 * reference (the MLP input from the reference forward, SAELens's JumpReLU encoding).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../../src/engine/cli/main.js';
import { featuresCliOutput } from '../../../src/engine/cli/features-command.js';
import { Engine } from '../../../src/engine/engine.js';
import type { Dictionary, DictionaryLayer } from '../../../src/engine/features/dictionary.js';
import { loadDictionaryFromSpec } from '../../../src/engine/features/dictionary-spec-loader.js';
import { createEngineClient, type EngineClient } from '../../../src/engine/worker/engine-client.js';
import type { FeaturesRequest, SteerFeaturesRequest } from '../../../src/protocol/features.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceEncode, referenceMlpInput } from '../../helpers/reference-features.js';
import { referenceGpt2Forward } from '../../helpers/reference-gpt2.js';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../src/engine/worker/worker-main.ts');
const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const P = IDS.length;
const LOAD = { device: 'cpu', maxTokens: 64, offline: true } as const;

describe('features through the worker and the CLI, from dictionary files', () => {
  let fixture: RandomModelFixture;
  let dictDir: string;
  let client: EngineClient;
  let local: Engine;
  let request: FeaturesRequest;
  before(async () => {
    fixture = await randomModelFolder('tiny', 7);
    dictDir = mkdtempSync(join(tmpdir(), 'ct-feature-worker-'));
    const io = { stdout: () => undefined, stderr: (t: string) => process.stderr.write(t) };
    const code = await main(
      [
        'random-dictionary',
        '--model',
        fixture.dir,
        '--format',
        'transcoder',
        '--layers',
        '0,1',
        '--width',
        '40',
        '--activation',
        'jumprelu',
        '--input-hook',
        'mlp.hook_in',
        '--output-hook',
        'hook_mlp_out',
        '--skip',
        '--seed',
        '3',
        '--out',
        dictDir,
      ],
      io,
    );
    assert.equal(code, 0);
    request = { dictionary: { kind: 'folder', path: dictDir }, ids: IDS, topK: 4 };
    client = createEngineClient({ workerPath });
    await client.loadModel({ kind: 'folder', path: fixture.dir }, LOAD);
    local = new Engine({ loadDictionary: loadDictionaryFromSpec });
    await local.loadModel({ kind: 'folder', path: fixture.dir }, LOAD);
  });
  after(async () => {
    await client?.dispose();
    await local?.dispose();
    rmSync(dictDir, { recursive: true, force: true });
  });

  test("the worker's features are the in-thread engine's, and match the float64 reference", async () => {
    const { elapsedMs: _a, ...remote } = await client.features(request);
    const { elapsedMs: _b, ...here } = await local.features(request);
    assert.deepEqual(remote, here);
    assert.ok(remote.layers[0]!.active.activations instanceof Float32Array);
    assert.equal(remote.layers.length, 2);

    const dictionary: Dictionary = await loadDictionaryFromSpec(request.dictionary, local.model().runner.config, { offline: true });
    try {
      const ref = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, IDS);
      remote.layers.forEach((view, i) => {
        const layer: DictionaryLayer = dictionary.layers[i]!;
        const decoders = layer.outputHooks.map((_, o) => layer.decoder(o).all());
        const enc = referenceEncode({ ...layer, decoders }, referenceMlpInput('gpt2', fixture.tensors, ref, layer.layer, 1e-5, true), P);
        const threshold = layer.activation.kind === 'jumprelu' ? layer.activation.threshold : null;
        assert.ok(threshold, 'a JumpReLU dictionary');
        const expected: Array<[number, number]> = [];
        for (let p = 0; p < P; p++)
          for (let f = 0; f < 40; f++) if (enc.acts[p * 40 + f]! > 0 && Math.abs(enc.pre[p * 40 + f]! - threshold[f]!) > 1e-4) expected.push([p, f]);
        const printed = Array.from(view.active.positions, (p, j) => [p, view.active.features[j]!] as [number, number]).filter(
          ([p, f]) => Math.abs(enc.pre[p * 40 + f]! - threshold[f]!) > 1e-4,
        );
        assert.deepEqual(printed, expected, `layer ${layer.layer}'s active features`);
        assert.ok(expected.length > 0, 'some features fire');
      });
    } finally {
      dictionary.dispose();
    }
  });

  test("the worker's steering is the in-thread engine's", async () => {
    const steer: SteerFeaturesRequest = {
      dictionary: request.dictionary,
      ids: IDS,
      edits: [
        { layer: 0, feature: 5, kind: 'add', value: 3 },
        { layer: 1, feature: 9, kind: 'scale', factor: 0, positions: [P - 1] },
      ],
      target: { id: 3332 },
    };
    const { elapsedMs: _a, ...remote } = await client.steerFeatures(steer);
    const { elapsedMs: _b, ...here } = await local.steerFeatures(steer);
    assert.deepEqual(remote, here);
    assert.equal(remote.applied.length, P + 1);
    assert.notEqual(remote.logitDiff!.after, remote.logitDiff!.before);
  });

  test('circuit-trace features --json prints the engine’s features', async () => {
    let out = '';
    const code = await main(['features', '--model', fixture.dir, '--dictionary', dictDir, '--ids', IDS.join(','), '--offline', '--json'], {
      stdout: (t) => (out += t),
      stderr: (t) => process.stderr.write(t),
    });
    assert.equal(code, 0);
    const expected = featuresCliOutput(await local.features({ ...request, topK: 5 }));
    assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(expected)));
  });

  test('circuit-trace features: a dictionary for another model is a typed error (exit 2)', async () => {
    let err = '';
    const code = await main(['features', '--model', fixture.dir, '--dictionary', dictDir, '--ids', '1,2', '--layers', '5', '--json'], {
      stdout: () => undefined,
      stderr: (t) => (err += t),
    });
    assert.equal(code, 2);
    assert.match(err, /BAD_ARGUMENT: The dictionary .* has no layer 5/);
  });
});
