/**
 * GPT-Neo (`model_type: gpt_neo`): a seeded random checkpoint in HF's layout, loaded by the GPT-Neo
 * adapter and run by the engine, against the independent float64 reference written from HF's
 * modeling_gpt_neo.py (test/helpers/reference-gpt-neo.ts). Its local layer's window (4 keys) is
 * shorter than the prompts, so the local mask shapes every later position. Also: the checkpoint's
 * layout, the config flags refused, a tensor of the wrong shape, and the CLI's --arch gpt_neo.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../../src/engine/cli/command.js';
import { randomModelCommand } from '../../../src/engine/cli/model-commands.js';
import { EngineError } from '../../../src/engine/errors.js';
import { allHookNames, type HookName } from '../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { gptNeoFolder, type GptNeoFixture } from '../../helpers/gpt-neo-fixtures.js';
import { maxDiff, withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceGptNeoForward } from '../../helpers/reference-gpt-neo.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262];
const P = IDS.length;
const WINDOW = 4;
const PATTERNS = ['blocks.0.attn.hook_pattern', 'blocks.1.attn.hook_pattern'] as const;

function assertMatches(engine: (name: HookName) => Float32Array, reference: Map<string, ReferenceTensor>, names: readonly string[], what = ''): void {
  for (const name of names) {
    const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
    const { ok, diff } = withinTolerance(engine(name as HookName), reference.get(name)!.data, tol);
    assert.ok(ok, `${what}${name}: the engine differs from the reference by ${diff.toExponential(3)} (tolerance ${tol})`);
  }
}

/** Rows from.. of a [head, query, key] pattern, or of position-major [pos, ...] activations. */
function rowsFrom(t: ReferenceTensor, from: number, pattern: boolean): Float64Array {
  if (!pattern) return t.data.subarray(from * (t.data.length / t.shape[0]!));
  const [H, Q, K] = t.shape as [number, number, number];
  const out = new Float64Array(H * (Q - from) * K);
  for (let h = 0; h < H; h++) out.set(t.data.subarray((h * Q + from) * K, (h + 1) * Q * K), h * (Q - from) * K);
  return out;
}

describe('tiny random GPT-Neo (global layer, then a local layer of window 4)', () => {
  let fixture: GptNeoFixture;
  let model: InstrumentedModel;
  let reference: Map<string, ReferenceTensor>;
  before(async () => {
    fixture = await gptNeoFolder(7);
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
    reference = referenceGptNeoForward(fixture.tensors, fixture.referenceConfig, IDS);
  });
  after(() => model.dispose());

  test("the checkpoint is in HF GPT-Neo's layout: config keys, tensor names, nn.Linear [out, in] weights, no tied lm_head", () => {
    const config = JSON.parse(readFileSync(join(fixture.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['model_type'], 'gpt_neo');
    assert.deepEqual(config['attention_types'], [[['global', 'local'], 1]]);
    assert.deepEqual(config['attention_layers'], ['global', 'local']);
    for (const [key, value] of Object.entries({
      window_size: WINDOW,
      num_heads: 4,
      num_layers: 2,
      hidden_size: 64,
      max_position_embeddings: 128,
      intermediate_size: null,
    })) {
      assert.deepEqual(config[key], value, key);
    }
    const shapes = new Map(fixture.model.tensors.map((t) => [t.name, t.shape]));
    assert.deepEqual(shapes.get('transformer.h.0.attn.attention.q_proj.weight'), [64, 64]);
    assert.deepEqual(shapes.get('transformer.h.1.mlp.c_fc.weight'), [256, 64]);
    assert.deepEqual(shapes.get('transformer.h.1.mlp.c_proj.weight'), [64, 256]);
    assert.ok(shapes.has('transformer.h.1.attn.attention.out_proj.bias'));
    assert.ok(!shapes.has('transformer.h.0.attn.attention.q_proj.bias') && !shapes.has('lm_head.weight'));
  });

  test('the loader maps it onto the generator’s canonical weights, with the window and no score scale', async () => {
    const { config, weights } = (await loadModelFolder(fixture.dir)).model;
    assert.equal(config.modelType, 'gpt_neo');
    assert.deepEqual(config.attentionWindow, [null, WINDOW]);
    assert.equal(config.useAttnScale, false);
    const expected = fixture.model.weights;
    for (const l of [0, 1]) {
      const [a, e] = [weights.blocks[l]!, expected.blocks[l]!];
      for (const key of ['W_Q', 'W_K', 'W_V', 'W_O', 'b_O', 'W_in', 'b_in', 'W_out', 'b_out', 'b_Q', 'b_K', 'b_V'] as const) {
        assert.deepEqual(a[key].shape, e[key].shape, `block ${l} ${key} shape`);
        assert.deepEqual(a[key].data, e[key].data, `block ${l} ${key}`);
      }
    }
    assert.equal(weights.W_U_T.data, weights.W_E.data, 'tied: the unembedding is wte');
  });

  test('every hook point matches the reference: 1e-4, patterns 1e-5', async () => {
    const { cache } = await model.forward(IDS, { hooks: 'all' });
    const names = allHookNames(2);
    for (const name of names) assert.deepEqual(cache.get(name)!.shape, reference.get(name)!.shape, `${name} shape`);
    assertMatches((name) => cache.get(name)!.data, reference, names);
  });

  test('the local layer sees only the last 4 keys, and that changes the output', () => {
    const local = reference.get('blocks.1.attn.hook_pattern')!;
    const global = reference.get('blocks.0.attn.hook_pattern')!;
    for (let h = 0; h < 4; h++) {
      for (let q = 0; q < P; q++) {
        for (let k = 0; k <= q; k++) {
          const at = (h * P + q) * P + k;
          if (q - k >= WINDOW) assert.equal(local.data[at], 0, `local H${h} ${q}->${k}`);
          else assert.ok(local.data[at]! > 0, `local H${h} ${q}->${k}`);
          assert.ok(global.data[at]! > 0, `global H${h} ${q}->${k}`);
        }
      }
    }
    const allGlobal = referenceGptNeoForward(fixture.tensors, { ...fixture.referenceConfig, attention_types: [[['global'], 2]] }, IDS);
    const { diff } = maxDiff(allGlobal.get('logits')!.data.subarray((P - 1) * 50257), reference.get('logits')!.data.subarray((P - 1) * 50257));
    assert.ok(diff > 1e-3, `the window moves the last logits by only ${diff}`);
  });

  test('incremental passes over cached keys and values keep the window (one query and several)', async () => {
    const { keysValues } = await model.forward(IDS, { hooks: [], keepKeysValues: true });
    const hooks = ['logits', ...PATTERNS, 'blocks.1.attn.hook_z', 'blocks.1.hook_resid_post'] as const;
    for (const from of [2, 6, P - 1]) {
      const [result] = await model.intervene({ ids: IDS, variants: [{}], hooks: [...hooks], queryFrom: from, past: keysValues! });
      for (const hook of hooks) {
        const tol = hook.endsWith('pattern') ? 1e-5 : 1e-4;
        const { ok, diff } = withinTolerance(result!.cache.get(hook)!.data, rowsFrom(reference.get(hook)!, from, hook.endsWith('pattern')), tol);
        assert.ok(ok, `queryFrom ${from}, ${hook}: the engine differs from the reference by ${diff.toExponential(3)}`);
      }
    }
  });
});

test('an untied GPT-Neo unembeds with lm_head.weight, as HF does with tie_word_embeddings false', async () => {
  const fixture = await gptNeoFolder(3, { tied: false });
  const written = JSON.parse(readFileSync(join(fixture.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(written['tie_word_embeddings'], false);
  const loaded = await loadModelFolder(fixture.dir);
  assert.notEqual(loaded.model.weights.W_U_T.data, loaded.model.weights.W_E.data);
  const model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
  try {
    const { cache } = await model.forward(IDS, { hooks: ['logits'] });
    const reference = referenceGptNeoForward(fixture.tensors, fixture.referenceConfig, IDS);
    assertMatches((name) => cache.get(name)!.data, reference, ['logits']);
    const tied = referenceGptNeoForward(fixture.tensors, { ...fixture.referenceConfig, tie_word_embeddings: true }, IDS);
    assert.ok(maxDiff(tied.get('logits')!.data, reference.get('logits')!.data).diff > 1e-2, 'lm_head differs from wte');
  } finally {
    await model.dispose();
  }
});

describe('GPT-Neo checkpoints the engine refuses', () => {
  let fixture: GptNeoFixture;
  before(async () => {
    fixture = await gptNeoFolder(7);
  });

  /** A copy of the tiny folder with config.json changed and, optionally, other tensors. */
  async function folderWith(changes: Record<string, unknown>, tensors = fixture.model.tensors): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'ct-gpt-neo-refused-'));
    await writeHfFolder(dir, { config: { ...fixture.model.config, ...changes }, tensors, tokenizerJson: null });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(loadGpt2TokenizerJson()));
    return dir;
  }
  const rejects = async (dir: string, code: string, message: RegExp): Promise<void> =>
    assert.rejects(loadModelFolder(dir), (error: unknown) => {
      assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
      return true;
    });

  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ attention_types: [[['global', 'sparse'], 1]], attention_layers: undefined }, /"attention_types".*attention type "sparse" is not one of global, local/],
    [{ attention_types: [[['global', 'local'], 2]], attention_layers: undefined }, /"attention_types".*names 4 layers, and num_layers is 2/],
    [{ attention_types: 'local', attention_layers: undefined }, /"attention_types": "local" is not supported/],
    [{ attention_layers: ['local', 'local'] }, /"attention_layers".*disagrees with attention_types/],
    [{ activation_function: 'silu' }, /"activation_function": "silu"/],
    [{ window_size: 0 }, /"window_size" must be a positive integer \(got 0\)/],
    [{ add_cross_attention: true }, /"add_cross_attention": true/],
    [{ tie_word_embeddings: false }, /"tie_word_embeddings": false, but the checkpoint has no lm_head\.weight/],
  ];
  for (const [changes, message] of refused) {
    test(`BAD_CONFIG: ${JSON.stringify(changes)}`, async () => rejects(await folderWith(changes), 'BAD_CONFIG', message));
  }

  test('a tensor of the wrong shape is named: c_fc in Conv1D orientation (GPT-2’s [in, out])', async () => {
    const tensors = fixture.model.tensors.map((t) => (t.name === 'transformer.h.1.mlp.c_fc.weight' ? { ...t, shape: [64, 256] } : t));
    await rejects(await folderWith({}, tensors), 'WRONG_SHAPE', /"transformer\.h\.1\.mlp\.c_fc\.weight" has shape \[64, 256\], expected \[256, 64\]/);
  });

  test('a missing projection is named', async () => {
    const tensors = fixture.model.tensors.filter((t) => t.name !== 'transformer.h.0.attn.attention.v_proj.weight');
    await rejects(await folderWith({}, tensors), 'MISSING_TENSOR', /"transformer\.h\.0\.attn\.attention\.v_proj\.weight"/);
  });

  test('HF’s defaults fill absent keys: attention_types, window_size and intermediate_size', async () => {
    // 24 layers by default: num_layers stays, so the default [[["global","local"],12]] would not fit.
    await rejects(await folderWith({ attention_types: undefined, attention_layers: undefined }), 'BAD_CONFIG', /names 24 layers, and num_layers is 2/);
    const loaded = await loadModelFolder(await folderWith({ window_size: undefined, intermediate_size: undefined }));
    assert.deepEqual(loaded.model.config.attentionWindow, [null, 256]);
    assert.equal(loaded.model.config.dMlp, 256);
  });
});

test('`circuit-trace random-model --arch gpt_neo` writes a GPT-Neo folder that loads', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-gpt-neo-cli-'));
  const io = { stdout: () => undefined, stderr: () => undefined };
  await randomModelCommand.run(parseFlags(['--arch', 'gpt_neo', '--preset', 'tiny', '--seed', '7', '--out', join(root, 'neo')]), io);
  const written = JSON.parse(readFileSync(join(root, 'neo', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(written['model_type'], 'gpt_neo');
  const { config, weights } = (await loadModelFolder(join(root, 'neo'))).model;
  assert.deepEqual(config.attentionWindow, [null, WINDOW]);
  // The same seed gives the generator's weights.
  const fixture = await gptNeoFolder(7);
  assert.deepEqual(weights.blocks[1]!.W_in.data, fixture.model.weights.blocks[1]!.W_in.data);
  await assert.rejects(
    randomModelCommand.run(parseFlags(['--arch', 'gpt_neo', '--preset', 'tiny', '--no-scale-attn-weights', '--out', join(root, 'bad')]), io),
    (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /gpt2/.test(e.message),
  );
});
