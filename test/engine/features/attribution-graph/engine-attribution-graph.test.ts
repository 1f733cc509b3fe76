/**
 * Engine.attributionGraph, in-thread and through the worker (a relay process and worker thread):
 * the prompt resolved as for analyses, the dictionary loaded through the engine's feature tools,
 * the result the same graph as buildAttributionGraph's on the same ids, progress streamed through
 * every phase, a cancel honoured with CANCELLED, and a prompt over the limit refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../../../src/engine/engine.js';
import { buildAttributionGraph } from '../../../../src/engine/features/attribution-graph/attribution-graph.js';
import { MAX_GRAPH_TOKENS } from '../../../../src/engine/features/attribution-graph/limits.js';
import { loadDictionaryFromSpec } from '../../../../src/engine/features/dictionary-spec-loader.js';
import { generateRandomDictionary } from '../../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../../../src/engine/features/random-dictionary-writer.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGpt2 } from '../../../../src/engine/model/random-gpt2.js';
import { createEngineClient, type EngineClient } from '../../../../src/engine/worker/engine-client.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { AttributionGraphProgress } from '../../../../src/protocol/attribution-graph-run.js';

const root = mkdtempSync(join(tmpdir(), 'ct-graph-engine-'));
const modelDir = join(root, 'model');
const dictionaryDir = join(root, 'transcoders');
const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../../src/engine/worker/worker-main.ts');
const IDS = [50256, 464, 3797, 3332, 319, 262];
let engine: Engine;
let client: EngineClient;

before(async () => {
  const model = generateRandomGpt2({ preset: 'tiny' }, 3);
  await writeHfFolder(modelDir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const dictionary = generateRandomDictionary(
    { format: 'transcoder', layers: [0, 1], width: 64, activation: 'relu', seed: 2, firingRate: 0.1 },
    { nLayers: 2, dModel: 64 },
  );
  await writeRandomDictionary(dictionaryDir, dictionary, { inputHook: 'ln2.hook_normalized', outputHook: 'mlp.hook_out', modelName: 'tiny-random' });
  engine = new Engine({ loadDictionary: loadDictionaryFromSpec });
  await engine.loadModel({ kind: 'folder', path: modelDir }, { device: 'cpu', maxTokens: 128, offline: true });
  client = createEngineClient({ workerPath });
  await client.loadModel({ kind: 'folder', path: modelDir }, { device: 'cpu', maxTokens: 128, offline: true });
});
after(async () => {
  await client?.dispose();
  await engine?.dispose();
  rmSync(root, { recursive: true, force: true });
});

test('in-thread: the same graph as buildAttributionGraph on the same ids, progress through every phase', async () => {
  const phases = new Set<string>();
  let lastDone = 0;
  const result = await engine.attributionGraph(
    { dictionary: { kind: 'folder', path: dictionaryDir }, ids: IDS, maxFeatureNodes: 20, batchSize: 8 },
    {
      onProgress: (p: AttributionGraphProgress) => {
        phases.add(p.phase);
        if (p.phase === 'backward') {
          assert.ok(p.done > lastDone && p.done <= p.total);
          lastDone = p.done;
        }
      },
    },
  );
  assert.deepEqual([...phases], ['activations', 'backward', 'pruning']);
  assert.equal(lastDone, 20);
  const { runner, tokenizer } = engine.model();
  const dictionary = await loadDictionaryFromSpec({ kind: 'folder', path: dictionaryDir }, runner.config, { offline: true });
  const direct = await buildAttributionGraph(runner, dictionary, IDS, (id) => tokenizer.tokenText(id), { maxFeatureNodes: 20, batchSize: 8 });
  dictionary.dispose();
  assert.deepEqual(
    result.nodes.map((n) => n.id),
    direct.result.nodes.map((n) => n.id),
  );
  assert.equal(result.links.length, direct.result.links.length);
  result.links.forEach((l, i) => assert.ok(Math.abs(l.weight - direct.result.links[i]!.weight) <= 1e-6 * Math.max(1, Math.abs(l.weight))));
  assert.equal(result.nLayers, 2);
  assert.equal(result.counts.visitedFeatures, 20);
});

test('a text prompt gets the BOS; a cancelled request ends with CANCELLED; a long prompt is refused', async () => {
  const result = await engine.attributionGraph({ dictionary: { kind: 'folder', path: dictionaryDir }, prompt: 'The cat sat on the' });
  assert.equal(result.ids[0], 50256);
  assert.ok(result.zeroedBos);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(engine.attributionGraph({ dictionary: { kind: 'folder', path: dictionaryDir }, ids: IDS }, { signal: controller.signal }), {
    code: 'CANCELLED',
  });
  const long = Array.from({ length: MAX_GRAPH_TOKENS + 1 }, (_, i) => 100 + i);
  await assert.rejects(engine.attributionGraph({ dictionary: { kind: 'folder', path: dictionaryDir }, ids: long }), { code: 'PROMPT_TOO_LONG' });
});

test('through the worker: the same result, progress events, a cancel mid-run', async () => {
  const events: AttributionGraphProgress[] = [];
  const remote = await client.attributionGraph(
    { dictionary: { kind: 'folder', path: dictionaryDir }, ids: IDS, maxFeatureNodes: 20, batchSize: 8 },
    { onProgress: (p) => events.push(p) },
  );
  const local = await engine.attributionGraph({ dictionary: { kind: 'folder', path: dictionaryDir }, ids: IDS, maxFeatureNodes: 20, batchSize: 8 });
  assert.deepEqual(
    remote.nodes.map((n) => n.id),
    local.nodes.map((n) => n.id),
  );
  assert.equal(remote.replacementScore, local.replacementScore);
  assert.ok(events.some((e) => e.phase === 'backward'));
  const controller = new AbortController();
  const running = client.attributionGraph(
    { dictionary: { kind: 'folder', path: dictionaryDir }, ids: IDS, batchSize: 1 },
    { signal: controller.signal, onProgress: (p) => (p.phase === 'backward' ? controller.abort() : undefined) },
  );
  await assert.rejects(running, { code: 'CANCELLED' });
});
