/**
 * Engine.checkCircuit, the method the extension's worker serves for the @circuit CodeLens: on the
 * organism its verdict is the float64 edge-patching reference's (test/helpers/reference-edge-patching.ts),
 * the edge patcher is made for whichever model is loaded, a Gemma model (no edges between heads) is
 * refused with UNSUPPORTED_ARCHITECTURE, and without a model the error says so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { CircuitCheckRequest } from '../../../src/protocol/circuit-check.js';
import { referenceEdgePatchedMetric, type KeepEdge } from '../../helpers/reference-edge-patching.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const BOS = 50256;
const CLEAN = ' apple river crane music tiger apple river crane';
const CORRUPT = ' apple river stone music tiger apple river crane';
const REQUEST: CircuitCheckRequest = {
  clean: CLEAN,
  corrupt: CORRUPT,
  target: { text: ' music' },
  contrast: { text: ' tiger' },
  nodes: ['L0H0', 'L1H0'],
  threshold: 0.9,
};

describe('Engine.checkCircuit', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-engine-circuit-check-'));
  const organism = join(root, 'organism');
  const engine = new Engine();

  before(async () => {
    await engine.loadModel({ kind: 'organism', dir: organism }, { device: 'cpu', maxTokens: 1024, offline: true });
  });
  after(async () => {
    await engine.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('on the organism: the induction circuit’s faithfulness is the reference’s, and it holds', async () => {
    const result = await engine.checkCircuit(REQUEST);
    const file = readSafetensors(readFileSync(join(organism, 'model.safetensors')), 'model.safetensors');
    const tensors = new Map<string, ReferenceWeightTensor>(
      [...file.tensors.keys()].map((n) => [n, { shape: [...file.get(n).shape], data: file.get(n).float32() }]),
    );
    const { tokenizer } = engine.model();
    const ids = (text: string): number[] => [BOS, ...tokenizer.encode(text).ids];
    const metric = { targetId: tokenizer.encode(' music').ids[0]!, contrastId: tokenizer.encode(' tiger').ids[0]! };
    // Written from the directive's definition for these two heads and every MLP.
    const keep: KeepEdge = (from, to) =>
      (from === 'embed' || from === 'L0H0' || from === 'L1H0' || from.startsWith('mlp')) &&
      (to === 'logits' || to.startsWith('mlp') || to.startsWith('L0H0.') || to.startsWith('L1H0.'));
    const m = (k: KeepEdge): number =>
      referenceEdgePatchedMetric(tensors, { n_layer: 2, n_head: 4, n_embd: 256, layer_norm_epsilon: 1e-5 }, ids(CLEAN), ids(CORRUPT), k, metric);
    const none = m(() => false);
    const expected = (m(keep) - none) / (m(() => true) - none);
    assert.ok(Math.abs(result.faithfulness - expected) < 1e-4, `${result.faithfulness} vs reference ${expected}`);
    assert.equal(result.metric, 'logit_diff');
    assert.equal(result.passed, expected >= 0.9);
    assert.ok(result.passed, `the organism's induction circuit carries ${expected}`);
    // The patcher is kept with the model: a second check gives the same verdict.
    assert.equal((await engine.checkCircuit(REQUEST)).faithfulness, result.faithfulness);
  });

  test('a Gemma model is refused with UNSUPPORTED_ARCHITECTURE; the organism works again once reloaded', async () => {
    const gemma = join(root, 'gemma');
    const random = generateRandomGemma('gemma2', 'tiny', 3);
    await writeHfFolder(gemma, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    await engine.loadModel({ kind: 'folder', path: gemma }, { device: 'cpu', maxTokens: 1024, offline: true });
    await assert.rejects(
      engine.checkCircuit({ ...REQUEST, nodes: ['L0H0'] }),
      (e: unknown) => e instanceof EngineError && e.code === 'UNSUPPORTED_ARCHITECTURE',
    );
    await engine.loadModel({ kind: 'organism', dir: organism }, { device: 'cpu', maxTokens: 1024, offline: true });
    const again = await engine.checkCircuit({ ...REQUEST, nodes: ['L1H0'] });
    assert.ok(Math.abs(again.faithfulness) < 0.05, `the induction head alone has no key to match: ${again.faithfulness}`);
  });

  test('without a model the error says so', async () => {
    const bare = new Engine();
    await assert.rejects(bare.checkCircuit(REQUEST), /No model is loaded/);
  });
});
