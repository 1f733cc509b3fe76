/**
 * Outputs that overflow: a checkpoint whose weights are all finite but whose activations are not
 * (token embeddings of 3e38: the residual stream stays finite, ln_final normalises it, but the tied
 * unembedding's rows of 3e38 overflow those tokens' logits) must fail with NON_FINITE
 * naming the first hook point that holds NaN or Inf, from the engine and from the CLI, rather than
 * crash on a missing prediction or print p=NaN.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { tensor } from '../../../src/engine/tensor.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

/**
 * Tokens whose embedding (and tied unembedding) rows are 3e38 in every entry: finite weights, but
 * the logits of these tokens overflow at every position after one of them (at its own position
 * ln_final's output sums to nearly 0 and the logit stays finite).
 */
const HUGE_TOKENS = [7, 8];
const FINE = [1, 2, 3, 4];

async function overflowingFolder(): Promise<string> {
  const random = generateRandomGpt2({ preset: 'tiny' }, 31);
  const d = random.modelConfig.dModel;
  const tensors = random.tensors.map((t) => {
    if (t.name !== 'wte.weight') return t;
    const data = (t.data as Float32Array).slice();
    for (const id of HUGE_TOKENS) data.fill(3e38, id * d, (id + 1) * d);
    return { ...t, data };
  });
  const dir = mkdtempSync(join(tmpdir(), 'ct-non-finite-'));
  await writeHfFolder(dir, { config: random.config, tensors, tokenizerJson: loadGpt2TokenizerJson() });
  return dir;
}

const nonFinite =
  (hook: string) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof EngineError, String(e));
    assert.equal(e.code, 'NON_FINITE', e.message);
    assert.ok(e.message.includes(hook), `expected ${hook} in: ${e.message}`);
    return true;
  };

describe('non-finite activations', () => {
  let dir: string;
  let model: InstrumentedModel;
  before(async () => {
    dir = await overflowingFolder();
    model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
  });

  test('a forward whose logits overflow (every hook before them finite) names the logits', async () => {
    await assert.rejects(model.forward([...FINE, HUGE_TOKENS[0]!], { hooks: 'all' }), nonFinite('logits'));
    await assert.rejects(model.forward([HUGE_TOKENS[1]!, ...FINE], { hooks: ['logits'] }), nonFinite('logits'));
  });

  test("the first non-finite hook point in forward order is named, from the returned hooks or else the blocks' residual streams", async () => {
    const [clean] = await model.intervene({ ids: FINE, variants: [{}], hooks: ['blocks.1.hook_resid_pre'] });
    const startResid = tensor(clean!.cache.get('blocks.1.hook_resid_pre')!.data.slice(), [FINE.length, model.config.dModel]);
    startResid.data[3] = Number.POSITIVE_INFINITY;
    await assert.rejects(model.intervene({ ids: FINE, variants: [{ startLayer: 1, startResid }], hooks: 'all' }), nonFinite('blocks.1.hook_resid_pre'));
    await assert.rejects(
      model.intervene({ ids: FINE, variants: [{}, { startLayer: 1, startResid }], hooks: ['blocks.1.hook_mlp_out'] }),
      nonFinite('blocks.1.hook_mlp_out (variant 1)'),
    );
    await assert.rejects(model.intervene({ ids: FINE, variants: [{ startLayer: 1, startResid }] }), nonFinite('blocks.1.hook_resid_post'));
  });

  test('interventions and packed runs check their outputs too; runs that stay finite return', async () => {
    await assert.rejects(model.intervene({ ids: [...FINE, HUGE_TOKENS[0]!], variants: [{}], hooks: [], scoreTokens: [HUGE_TOKENS[0]!] }), nonFinite('logits'));
    await assert.rejects(model.runPacked({ prompts: [[HUGE_TOKENS[0]!, ...FINE]], branches: [], scoreTokens: [HUGE_TOKENS[1]!] }), nonFinite('logits'));
    // Without the logits (every prompt's logits of the huge tokens overflow), a run is finite and returns.
    const { cache } = await model.forward(FINE, { hooks: ['hook_embed', 'blocks.1.hook_resid_post', 'ln_final.hook_scale'] });
    assert.equal(cache.size, 3);
  });

  test('the CLI reports NON_FINITE and exits non-zero instead of crashing or printing p=NaN', async () => {
    let out = '',
      err = '';
    const code = await main(['analyze', '--model', dir, '--ids', [HUGE_TOKENS[0]!, ...FINE].join(',')], {
      stdout: (t) => {
        out += t;
      },
      stderr: (t) => {
        err += t;
      },
    });
    assert.notEqual(code, 0, out);
    assert.match(err, /overflowed/);
    assert.match(err, /logits/);
    assert.doesNotMatch(out + err, /p=NaN|Cannot read properties/);
  });
});
