import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bosToPrepend } from '../../../src/engine/analysis/prompt-input.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { bosConvention } from '../../../src/engine/tokenizer/bos-convention.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

const ids: Record<string, number> = { '<|endoftext|>': 50256, '<s>': 1, '<bos>': 2, '<|begin_of_text|>': 128000 };
const tokenToId = (token: string): number | undefined => ids[token];

/** A TemplateProcessing as Llama's, Mistral's and Gemma's tokenizer.json have. */
function template(bos: string, id: number) {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

test('GPT-2: <|endoftext|> from config.json and tokenizer_config; prepended by default though its tokenizer adds none', () => {
  assert.deepEqual(
    bosConvention({
      config: { model_type: 'gpt2', bos_token_id: 50256 },
      tokenizerJson: { post_processor: { type: 'ByteLevel' } },
      tokenizerConfig: { bos_token: '<|endoftext|>', add_bos_token: false },
      tokenToId,
    }),
    { bosTokenId: 50256, prependByDefault: true, tokenizerAddsBos: false },
  );
});

test("Llama 2 and Gemma: the template's BOS, which their tokenizers add themselves", () => {
  const llama = bosConvention({
    config: { model_type: 'llama', bos_token_id: 1 },
    tokenizerJson: { post_processor: template('<s>', 1) },
    tokenizerConfig: { add_bos_token: true, bos_token: { __type: 'AddedToken', content: '<s>' } },
    tokenToId,
  });
  assert.deepEqual(llama, { bosTokenId: 1, prependByDefault: true, tokenizerAddsBos: true });
  // Gemma's folder without a tokenizer_config.json: the template alone says it.
  assert.deepEqual(bosConvention({ config: { model_type: 'gemma' }, tokenizerJson: { post_processor: template('<bos>', 2) }, tokenToId }), {
    bosTokenId: 2,
    prependByDefault: true,
    tokenizerAddsBos: true,
  });
  // Llama 3: the template inside a Sequence of post-processors.
  const llama3 = bosConvention({
    config: { model_type: 'llama', bos_token_id: 128000 },
    tokenizerJson: { post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel' }, template('<|begin_of_text|>', 128000)] } },
    tokenToId,
  });
  assert.deepEqual(llama3, { bosTokenId: 128000, prependByDefault: true, tokenizerAddsBos: true });
  // add_bos_token: false turns the template's BOS off, as transformers does.
  assert.equal(
    bosConvention({ config: {}, tokenizerJson: { post_processor: template('<s>', 1) }, tokenizerConfig: { add_bos_token: false }, tokenToId }).tokenizerAddsBos,
    false,
  );
});

test('Qwen2, Pythia and Phi: no BOS by default (TransformerLens default_prepend_bos = False), the id still known', () => {
  const qwen = bosConvention({
    config: { model_type: 'qwen2', bos_token_id: 151643 },
    tokenizerJson: { post_processor: { type: 'ByteLevel' } },
    tokenizerConfig: { bos_token: null, add_bos_token: false },
    tokenToId,
  });
  assert.deepEqual(qwen, { bosTokenId: 151643, prependByDefault: false, tokenizerAddsBos: false });
  for (const modelType of ['gpt_neox', 'phi', 'qwen3', 'bloom']) {
    assert.equal(bosConvention({ config: { model_type: modelType, bos_token_id: 0 }, tokenToId }).prependByDefault, false, modelType);
  }
  assert.equal(bosConvention({ config: { model_type: 'mistral', bos_token_id: 1 }, tokenToId }).prependByDefault, true);
});

test('a model that names no BOS has none, and nothing is prepended', () => {
  assert.deepEqual(
    bosConvention({ config: { model_type: 'gpt2' }, tokenizerJson: { post_processor: null }, tokenizerConfig: { bos_token: null }, tokenToId }),
    {
      bosTokenId: null,
      prependByDefault: false,
      tokenizerAddsBos: false,
    },
  );
});

test('a loaded model folder carries the default: a Qwen2 checkpoint none, a Llama one (with its tokenizer_config.json) the usual', async () => {
  const load = async (arch: 'qwen2' | 'llama', tokenizerConfig?: object) => {
    const random = generateRandomLlama(arch, 'tiny', 3);
    const dir = mkdtempSync(join(tmpdir(), `ct-bos-${arch}-`));
    await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    if (tokenizerConfig) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    return (await loadModelFolder(dir)).model.config;
  };
  const qwen = await load('qwen2', { bos_token: null, add_bos_token: false });
  assert.equal(qwen.defaultPrependBos, false);
  assert.equal(bosToPrepend(qwen, undefined), null, 'no BOS unless asked');
  assert.equal(bosToPrepend(qwen, true), qwen.bosTokenId);
  const llama = await load('llama', { bos_token: '<|endoftext|>', add_bos_token: true });
  assert.equal(llama.defaultPrependBos, undefined);
  assert.equal(bosToPrepend(llama, undefined), llama.bosTokenId);
});
