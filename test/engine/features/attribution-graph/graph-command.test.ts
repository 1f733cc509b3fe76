/**
 * `circuit-trace graph` on a random tiny GPT-2 and a random transcoder set written in
 * circuit-tracer's layout: the graph JSON file (circuit-tracer's Model: metadata, qParams, nodes,
 * links) and the printed summary; bad input (a prompt over the limit, a threshold outside [0, 1], no
 * --out) ends with exit code 2 and a typed error before any model loads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../../src/engine/cli/main.js';
import { generateRandomDictionary } from '../../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../../../src/engine/features/random-dictionary-writer.js';
import { MAX_GRAPH_TOKENS } from '../../../../src/engine/features/attribution-graph/limits.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGpt2 } from '../../../../src/engine/model/random-gpt2.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

const root = mkdtempSync(join(tmpdir(), 'ct-graph-cli-'));
const modelDir = join(root, 'model');
const dictionaryDir = join(root, 'transcoders');

before(async () => {
  const model = generateRandomGpt2({ preset: 'tiny' }, 3);
  await writeHfFolder(modelDir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const dictionary = generateRandomDictionary(
    { format: 'transcoder', layers: [0, 1], width: 64, activation: 'relu', seed: 2, firingRate: 0.1 },
    { nLayers: 2, dModel: 64 },
  );
  await writeRandomDictionary(dictionaryDir, dictionary, { inputHook: 'ln2.hook_normalized', outputHook: 'mlp.hook_out', modelName: 'tiny-random' });
});
after(() => rmSync(root, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

test('graph writes circuit-tracer’s graph JSON and prints the scores', async () => {
  const file = join(root, 'graph.json');
  const r = await cli(['graph', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '50256,464,3797,3332,319,262', '--out', file, '--json']);
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out) as { replacementScore: number; completenessScore: number; counts: { keptNodes: number; keptLinks: number } };
  assert.ok(summary.replacementScore >= 0 && summary.replacementScore <= 1);
  assert.ok(summary.completenessScore >= 0 && summary.completenessScore <= 1);
  const graph = JSON.parse(readFileSync(file, 'utf8')) as {
    metadata: Record<string, unknown>;
    qParams: unknown;
    nodes: Array<Record<string, unknown>>;
    links: unknown[];
  };
  assert.equal(graph.metadata['slug'], 'graph');
  assert.equal(graph.metadata['scan'], 'tiny-random');
  assert.equal((graph.metadata['prompt_tokens'] as string[]).length, 6);
  assert.equal(graph.nodes.length, summary.counts.keptNodes);
  assert.equal(graph.links.length, summary.counts.keptLinks);
  assert.equal(graph.nodes.filter((n) => n['feature_type'] === 'embedding').length, 6);
  assert.ok(graph.nodes.some((n) => n['feature_type'] === 'logit' && n['is_target_logit'] === true));
});

test('bad input: exit code 2 and a typed error before any model loads', async () => {
  const file = join(root, 'bad.json');
  const long = Array.from({ length: MAX_GRAPH_TOKENS + 1 }, (_, i) => String(100 + i)).join(',');
  const tooLong = await cli(['graph', '--model', join(root, 'missing'), '--transcoders', dictionaryDir, '--ids', long, '--out', file]);
  assert.equal(tooLong.code, 2);
  assert.match(tooLong.err, /PROMPT_TOO_LONG/);
  const threshold = await cli(['graph', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '1,2', '--out', file, '--node-threshold', '1.5']);
  assert.equal(threshold.code, 2);
  assert.match(threshold.err, /--node-threshold/);
  const noOut = await cli(['graph', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '1,2']);
  assert.equal(noOut.code, 2);
  assert.match(noOut.err, /--out/);
  assert.ok(!existsSync(file));
});

test('intervene ablates graph features and prints the logits against the graph’s predictions', async () => {
  const file = join(root, 'for-intervene.json');
  const graph = await cli(['graph', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '50256,464,3797,3332,319,262', '--out', file]);
  assert.equal(graph.code, 0, graph.err);
  const nodes = (JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<Record<string, unknown>> }).nodes;
  const feature = nodes.find((n) => n['feature_type'] === 'cross layer transcoder')!;
  const [layer, index, position] = String(feature['node_id']).split('_'); // {layer}_{index}_{pos}; `feature` is circuit-tracer's pairing of the two
  const edit = `${layer}:${index}@${position}`;
  const r = await cli(['intervene', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '50256,464,3797,3332,319,262', '--ablate', edit, '--json']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as {
    freezeAttention: boolean;
    applied: Array<{ before: number; after: number }>;
    logits: Array<{ clean: number; intervened: number; actual: number; predictedDirect: number }>;
  };
  assert.equal(out.freezeAttention, true);
  assert.equal(out.applied.length, 1);
  assert.ok(out.applied[0]!.before > 0 && out.applied[0]!.after === 0);
  assert.ok(out.logits.length > 0);
  for (const l of out.logits) assert.ok(Math.abs(l.actual - (l.intervened - l.clean)) < 1e-9 && Number.isFinite(l.predictedDirect));
  const bad = await cli(['intervene', '--model', modelDir, '--transcoders', dictionaryDir, '--ids', '1,2', '--edits', '3:x=1']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /not a feature edit/);
});
