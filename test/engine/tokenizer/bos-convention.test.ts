import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bosConvention } from '../../../src/engine/tokenizer/bos-convention.js';

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
