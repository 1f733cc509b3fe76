import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actName, allHookNames, HOOK_POINTS, layerHook, PATCHABLE_ALIASES, parseHookName, type LayerHook } from '../../../src/engine/hooks.js';
import type { HookArchitecture } from '../../../src/engine/hooks/registry.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { buildBlockGraph, buildFinalGraph } from '../../../src/engine/onnx/gpt2-graphs.js';
import { onnxModelType } from '../../../src/engine/onnx/onnx-proto.js';

/** A built graph's input and output names, decoded from its ModelProto. */
function graphIo(model: Uint8Array): { inputs: string[]; outputs: string[] } {
  const { graph } = onnxModelType().toObject(onnxModelType().decode(model)) as { graph: { input: Array<{ name: string }>; output: Array<{ name: string }> } };
  return { inputs: graph.input.map((i) => i.name), outputs: graph.output.map((o) => o.name) };
}

test('allHookNames lists TransformerLens hook points in forward order', () => {
  const names = allHookNames(2);
  assert.equal(names[0], 'hook_embed');
  assert.equal(names.at(-1), 'logits');
  assert.ok(names.includes('blocks.1.attn.hook_z'));
  assert.equal(names.length, 2 + 2 * 10 + 2);
});

test('parseHookName accepts layer and global hooks and rejects the rest', () => {
  assert.deepEqual(parseHookName('blocks.9.attn.hook_z', 12), { layer: 9, hook: 'attn.hook_z' });
  assert.deepEqual(parseHookName('ln_final.hook_scale', 12), { layer: null, hook: 'ln_final.hook_scale' });
  assert.equal(parseHookName('blocks.12.hook_resid_pre', 12), null);
  assert.equal(parseHookName('blocks.x.hook_resid_pre', 12), null);
  assert.equal(parseHookName('hook_nonsense', 12), null);
});

test('every registry entry round-trips name <-> alias <-> parse', () => {
  const nLayers = 3;
  for (const point of HOOK_POINTS) {
    const layers = point.perLayer ? [0, nLayers - 1] : [undefined];
    for (const layer of layers) {
      const name = actName(point.alias, layer);
      assert.equal(name, layer === undefined ? point.name : layerHook(layer, point.name as LayerHook));
      assert.deepEqual(parseHookName(name, nLayers), { layer: layer ?? null, hook: point.name });
      const archs: readonly HookArchitecture[] = 'archs' in point ? point.archs : ['gpt2', 'llama'];
      assert.ok(
        archs.every((arch) => allHookNames(nLayers, arch).includes(name)),
        name,
      );
    }
    assert.throws(() => actName(point.alias, point.perLayer ? undefined : 0), /layer/);
  }
  assert.equal(new Set(HOOK_POINTS.map((p) => p.alias)).size, HOOK_POINTS.length, 'aliases are unique');
  for (const arch of ['gpt2', 'llama'] as const) {
    const points = HOOK_POINTS.filter((p) => !('archs' in p) || (p.archs as readonly string[]).includes(arch));
    assert.equal(allHookNames(nLayers, arch).length, points.filter((p) => !p.perLayer).length + nLayers * points.filter((p) => p.perLayer).length, arch);
  }
  assert.ok(!allHookNames(nLayers).includes('blocks.0.attn.hook_rot_q'), "GPT-2's names are as before");
  assert.ok(!allHookNames(nLayers, 'llama').includes('hook_pos_embed'), 'a rotary model has no position embedding');
  assert.deepEqual(PATCHABLE_ALIASES, ['resid_pre', 'q', 'k', 'v', 'z', 'attn_out', 'mlp_out']);
});

test("the block and final graphs output exactly the registry's hook points (plus keys/values and token scores), and take its patch inputs", () => {
  const fixture = generateRandomGpt2({ preset: 'tiny' }, 3);
  const block = buildBlockGraph(fixture.modelConfig, fixture.weights.blocks[0]!, 0, 'inputs');
  const final = buildFinalGraph(fixture.modelConfig, fixture.weights, 'inputs');
  const blockGraph = graphIo(block.model),
    finalGraph = graphIo(final.model);
  const gpt2 = HOOK_POINTS.filter((p) => !('archs' in p) || (p.archs as readonly string[]).includes('gpt2'));
  const blockHooks = gpt2.flatMap((p) => ('output' in p.source && p.source.graph === 'block' ? [p.source.output] : []));
  const finalHooks = gpt2.flatMap((p) => ('output' in p.source && p.source.graph === 'final' ? [p.source.output] : []));
  assert.deepEqual(blockGraph.outputs, [...blockHooks, 'k', 'v']);
  assert.deepEqual(finalGraph.outputs, [...finalHooks, 'token_logits', 'token_probs']);
  const inputs = new Set(blockGraph.inputs);
  for (const p of gpt2) {
    if ('input' in p.source) assert.ok(inputs.has(p.source.input), p.name);
    if ('patch' in p && p.patch.by === 'rows') assert.ok(inputs.has(p.patch.index) && inputs.has(p.patch.values), p.name);
  }
});
