/**
 * models/registry.json, the known models of the Models view and the Download Model pick: every
 * entry reads without a problem, names an architecture the engine loads, gives its size and shape,
 * and the gated repositories say that they need HF_TOKEN where the user chooses them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_MODEL_TYPES } from '../../../src/engine/model/adapters/index.js';
import { buildCatalog } from '../../../src/extension/model/model-catalog.js';
import { readModelRegistry } from '../../../src/extension/model/model-registry.js';

const text = readFileSync(fileURLToPath(new URL('../../../models/registry.json', import.meta.url)), 'utf8');
const raw = (JSON.parse(text) as { models: Array<Record<string, unknown>> }).models.filter((m) => typeof m['repo'] === 'string');

test('every Hub entry reads cleanly, with its size, layers, heads and d_model', () => {
  const reading = readModelRegistry(text);
  assert.deepEqual(reading.problems, []);
  assert.equal(reading.models.length, raw.length);
  for (const m of reading.models) {
    assert.ok(m.sizeBytes && m.sizeBytes > 1e8, `${m.repo}: size`);
    assert.ok(m.nLayers && m.nHeads && m.dModel, `${m.repo}: shape`);
    assert.match(m.description ?? '', /safetensors|pytorch_model\.bin/, `${m.repo}: the description says which files the repository must have`);
  }
});

test('every entry names a model_type the engine loads', () => {
  for (const m of raw) assert.ok(SUPPORTED_MODEL_TYPES.includes(String(m['modelType'])), `${String(m['repo'])}: ${String(m['modelType'])}`);
});

test('the new families are listed, and exactly the gated repositories are marked', () => {
  const repos = raw.map((m) => m['repo']);
  for (const repo of [
    'EleutherAI/pythia-70m',
    'EleutherAI/pythia-160m',
    'EleutherAI/pythia-410m',
    'roneneldan/TinyStories-33M',
    'HuggingFaceTB/SmolLM2-135M',
    'HuggingFaceTB/SmolLM2-360M',
    'Qwen/Qwen2.5-0.5B',
    'Qwen/Qwen3-0.6B',
    'meta-llama/Llama-3.2-1B',
    'google/gemma-2-2b',
  ])
    assert.ok(repos.includes(repo), repo);
  const gated = readModelRegistry(text)
    .models.filter((m) => m.gated)
    .map((m) => m.repo);
  assert.deepEqual(gated, ['meta-llama/Llama-3.2-1B', 'google/gemma-2-2b']);
});

test('a gated model says it needs HF_TOKEN in the view, and its shape is in the tooltip', () => {
  const known = readModelRegistry(text).models;
  const entries = buildCatalog({ organismName: 'Organism', cached: [], known, activeId: undefined });
  const llama = entries.find((e) => e.id === 'meta-llama/Llama-3.2-1B')!;
  assert.equal(llama.description, 'download · 2.5 GB · gated: needs HF_TOKEN');
  assert.match(llama.detail, /^16 layers · 32 heads \(8 key-value\) · d_model 2048\. /);
  assert.match(llama.detail, /HF_TOKEN/);
  const pythia = entries.find((e) => e.id === 'EleutherAI/pythia-160m')!;
  assert.doesNotMatch(`${pythia.description} ${pythia.detail}`, /HF_TOKEN|gated/i);
  assert.match(pythia.detail, /^12 layers · 12 heads · d_model 768\. /);
});

test("TinyStories-33M is listed with its GPT-Neo shape (TinyStories-33M's config.json: 4 layers, 16 heads, hidden size 768) and size, ungated", () => {
  const known = readModelRegistry(text).models;
  const entries = buildCatalog({ organismName: 'Organism', cached: [], known, activeId: undefined });
  const tiny = entries.find((e) => e.id === 'roneneldan/TinyStories-33M')!;
  assert.equal(raw.find((m) => m['repo'] === 'roneneldan/TinyStories-33M')?.['modelType'], 'gpt_neo');
  assert.match(tiny.detail, /^4 layers · 16 heads · d_model 768\. /);
  assert.match(tiny.description, /291 MB/);
  assert.doesNotMatch(`${tiny.description} ${tiny.detail}`, /HF_TOKEN|gated/i);
  assert.match(tiny.detail, /pytorch_model\.bin/);
});
