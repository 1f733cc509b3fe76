/**
 * An attribution graph's exports and refusals on a tiny random GPT-2 with a random transcoder:
 *  - circuit-tracer's graph JSON: every field of frontend/graph_models.py's Metadata, QParams and
 *    Node with its type, node ids as create_graph_files names them, links between listed nodes,
 *    every token and logit node present, the first logit the target;
 *  - bad input, each a typed error before any work: a prompt over the limit, an SAE, a dictionary of
 *    another width or missing a layer or reading the wrong hook, NaN in the encoder or in a decoder row.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAttributionGraph, type AttributionGraphRun } from '../../../../src/engine/features/attribution-graph/attribution-graph.js';
import { toCircuitTracerJson } from '../../../../src/engine/features/attribution-graph/graph-json.js';
import { MAX_GRAPH_TOKENS } from '../../../../src/engine/features/attribution-graph/limits.js';
import type { Dictionary, DictionaryLayer } from '../../../../src/engine/features/dictionary.js';
import type { HookName } from '../../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../../../../src/engine/runtime/instrumented-model.js';
import type { ForwardRunner } from '../../../../src/engine/runtime/types.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomTranscoder } from '../../../helpers/attribution-graph-fixtures.js';

const PROMPT = [50256, 464, 3797, 3332, 319, 262];

describe('attribution graph exports and bad input (tiny GPT-2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-graph-io-'));
  let runner: InstrumentedModel;
  let run: AttributionGraphRun;
  let dictionary: Dictionary;

  before(async () => {
    const model = generateRandomGpt2({ preset: 'tiny' }, 3);
    await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    runner = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
    dictionary = randomTranscoder({ nLayers: 2, dModel: 64, dSae: 48, seed: 1 });
    run = await buildAttributionGraph(runner, dictionary, PROMPT, (id) => (id === 464 ? 'The\n' : `t${id}`), { nodeThreshold: 0.9, edgeThreshold: 0.99 });
  });
  after(async () => {
    await runner?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("circuit-tracer's graph JSON: Metadata, QParams, Node and links as graph_models.py defines them", () => {
    const json = toCircuitTracerJson(run.result, { slug: 'test-graph', scan: 'random-transcoder', prompt: 'The cat sat on', nLayers: 2 });
    const parsed = JSON.parse(JSON.stringify(json)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed).sort(), ['links', 'metadata', 'nodes', 'qParams']);
    const metadata = parsed['metadata'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(metadata).sort(), ['node_threshold', 'prompt', 'prompt_tokens', 'scan', 'schema_version', 'slug', 'transcoder_list']);
    assert.equal(metadata['schema_version'], 1);
    assert.equal(metadata['slug'], 'test-graph');
    assert.equal(metadata['node_threshold'], 0.9);
    assert.deepEqual(metadata['prompt_tokens'], ['t50256', 'The⏎', 't3797', 't3332', 't319', 't262']);
    assert.deepEqual(parsed['qParams'], { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' });

    const nodes = parsed['nodes'] as Array<Record<string, unknown>>;
    const fields: Record<string, string> = {
      node_id: 'string',
      feature: 'number',
      layer: 'string',
      ctx_idx: 'number',
      feature_type: 'string',
      token_prob: 'number',
      is_target_logit: 'boolean',
      run_idx: 'number',
      reverse_ctx_idx: 'number',
      jsNodeId: 'string',
      clerp: 'string',
    };
    for (const node of nodes) {
      for (const [key, type] of Object.entries(fields)) assert.equal(typeof node[key], type, `${String(node['node_id'])}.${key}`);
      assert.ok(node['influence'] === null || typeof node['influence'] === 'number');
      assert.ok(node['activation'] === null || typeof node['activation'] === 'number');
      const id = String(node['node_id']);
      switch (node['feature_type']) {
        case 'cross layer transcoder': {
          const [layer, index, position] = id.split('_').map(Number) as [number, number, number];
          assert.match(id, /^\d+_\d+_\d+$/);
          assert.equal(String(layer), node['layer']);
          assert.equal(position, node['ctx_idx']);
          // circuit-tracer's Cantor pairing of layer and index, written out.
          assert.equal(node['feature'], ((layer + index) * (layer + index + 1)) / 2 + index);
          assert.equal(node['jsNodeId'], `${layer}_${index}-0`);
          assert.equal(typeof node['activation'], 'number');
          break;
        }
        case 'mlp reconstruction error':
          assert.equal(id, `${String(node['layer'])}_-1_${String(node['ctx_idx'])}`);
          assert.equal(node['jsNodeId'], `${String(node['layer'])}_-1-${String(node['ctx_idx'])}`);
          assert.equal(node['feature'], -1);
          break;
        case 'embedding':
          assert.equal(node['layer'], 'E');
          assert.equal(id, `E_${PROMPT[node['ctx_idx'] as number]}_${String(node['ctx_idx'])}`);
          break;
        case 'logit':
          assert.equal(node['layer'], '3');
          assert.equal(node['ctx_idx'], PROMPT.length - 1);
          assert.match(String(node['clerp']), /^Output ".*" \(p=\d\.\d{3}\)$/);
          break;
        default:
          assert.fail(`unknown feature_type ${String(node['feature_type'])}`);
      }
    }
    const ids = new Set(nodes.map((n) => n['node_id']));
    assert.equal(ids.size, nodes.length, 'node ids are unique');
    assert.equal(nodes.filter((n) => n['feature_type'] === 'embedding').length, PROMPT.length, 'every token node');
    const logits = nodes.filter((n) => n['feature_type'] === 'logit');
    assert.equal(logits.length, run.replacement.logits.tokens.length, 'every logit node');
    assert.deepEqual(
      logits.map((n) => n['is_target_logit']),
      logits.map((_, i) => i === 0),
    );
    const links = parsed['links'] as Array<Record<string, unknown>>;
    assert.ok(links.length > 0);
    for (const link of links) {
      assert.deepEqual(Object.keys(link).sort(), ['source', 'target', 'weight']);
      assert.ok(ids.has(link['source']) && ids.has(link['target']), `link ${String(link['source'])} → ${String(link['target'])}`);
      assert.equal(typeof link['weight'], 'number');
    }
    assert.ok(
      nodes.some((n) => n['feature_type'] === 'cross layer transcoder'),
      'some feature survives pruning',
    );
  });

  test('the result: scores in [0, 1], counts, kept nodes linked', () => {
    const r = run.result;
    assert.ok(r.replacementScore >= 0 && r.replacementScore <= 1, String(r.replacementScore));
    assert.ok(r.completenessScore >= 0 && r.completenessScore <= 1, String(r.completenessScore));
    assert.equal(r.counts.activeFeatures, run.replacement.features.count);
    assert.equal(r.counts.keptNodes, r.nodes.length);
    assert.equal(r.counts.keptLinks, r.links.length);
    assert.ok(r.zeroedBos);
  });

  test('a transcoder with no active feature gives a graph of tokens, errors and logits only', async () => {
    const silent = randomTranscoder({ nLayers: 2, dModel: 64, dSae: 16, seed: 4, encoderBias: -100 });
    const empty = await buildAttributionGraph(runner, silent, PROMPT, String);
    assert.equal(empty.replacement.features.count, 0);
    assert.equal(empty.adjacency.nodes, 2 * PROMPT.length + PROMPT.length + empty.replacement.logits.tokens.length);
    assert.ok(empty.result.nodes.every((n) => n.kind !== 'feature'));
    // Tokens reach the logits directly (residual stream, attention) and through the error nodes.
    assert.ok(empty.result.replacementScore > 0 && empty.result.replacementScore < 1, String(empty.result.replacementScore));
  });

  const refused = async (what: Promise<unknown>, code: string, message?: RegExp): Promise<void> => {
    await assert.rejects(what, (e: Error & { code?: string }) => {
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message, message);
      return true;
    });
  };
  /** A runner that fails the test if anything runs. */
  const idle = (): ForwardRunner =>
    ({ ...runner, config: runner.config, weights: runner.weights, forward: () => assert.fail('no forward may run') }) as unknown as ForwardRunner;
  const withLayer = (change: (layer: DictionaryLayer) => Partial<DictionaryLayer>, at = 1): Dictionary => ({
    ...dictionary,
    layers: dictionary.layers.map((l) => (l.layer === at ? { ...l, ...change(l) } : l)),
  });

  test('a prompt over the limit is refused before any work', async () => {
    const long = Array.from({ length: MAX_GRAPH_TOKENS + 1 }, (_, i) => 100 + i);
    await refused(buildAttributionGraph(idle(), dictionary, long, String), 'PROMPT_TOO_LONG', new RegExp(String(MAX_GRAPH_TOKENS)));
  });

  test('settings out of range are refused before any work', async () => {
    await refused(buildAttributionGraph(idle(), dictionary, PROMPT, String, { batchSize: 0 }), 'BAD_ARGUMENT', /batch size/);
    await refused(buildAttributionGraph(idle(), dictionary, PROMPT, String, { nodeThreshold: 1.2 }), 'BAD_ARGUMENT', /node threshold/);
    await refused(buildAttributionGraph(idle(), dictionary, PROMPT, String, { maxFeatureNodes: -1 }), 'BAD_ARGUMENT', /features visited/);
    await refused(buildAttributionGraph(idle(), dictionary, PROMPT, String, { logitProbability: Number.NaN }), 'BAD_ARGUMENT', /logit probability/);
  });

  test('dictionaries that do not fit the model are refused before any work', async () => {
    await refused(buildAttributionGraph(idle(), { ...dictionary, kind: 'sae' }, PROMPT, String), 'BAD_ARGUMENT', /sparse autoencoder/);
    await refused(buildAttributionGraph(idle(), randomTranscoder({ nLayers: 2, dModel: 32, dSae: 8, seed: 1 }), PROMPT, String), 'WRONG_SHAPE', /d_model/);
    await refused(buildAttributionGraph(idle(), { ...dictionary, layers: dictionary.layers.slice(0, 1) }, PROMPT, String), 'BAD_ARGUMENT', /layer 1/);
    await refused(
      buildAttributionGraph(
        idle(),
        withLayer(() => ({ inputHook: 'blocks.1.hook_resid_pre' as HookName })),
        PROMPT,
        String,
      ),
      'BAD_ARGUMENT',
      /hook_resid_pre/,
    );
    await refused(
      buildAttributionGraph(
        idle(),
        withLayer(() => ({ outputHooks: ['blocks.1.hook_attn_out' as HookName] })),
        PROMPT,
        String,
      ),
      'BAD_ARGUMENT',
      /hook_attn_out/,
    );
    const nanEncoder = withLayer((l) => {
      const W_enc = l.W_enc.slice();
      W_enc[17] = Number.NaN;
      return { W_enc };
    });
    await refused(buildAttributionGraph(idle(), nanEncoder, PROMPT, String), 'NON_FINITE', /W_enc/);
  });

  test('NaN in an active feature’s decoder row is refused', async () => {
    const feature = run.replacement.features.feature[run.replacement.features.layerStart[1]!]!;
    const nanDecoder = withLayer((l) => ({
      decoder: (i: number) => {
        const inner = l.decoder(i);
        return {
          ...inner,
          rows: (features: readonly number[]) => {
            const rows = inner.rows(features);
            const at = features.indexOf(feature);
            if (at >= 0) rows[at * 64 + 3] = Number.NaN;
            return rows;
          },
        };
      },
    }));
    await refused(buildAttributionGraph(runner, nanDecoder, PROMPT, String), 'NON_FINITE', new RegExp(`feature ${feature}`));
  });
});
