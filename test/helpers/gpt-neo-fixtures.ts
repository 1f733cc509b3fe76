/**
 * Seeded random GPT-Neo folders for engine tests (HF GPT-Neo layout, GPT-2's tokenizer), generated
 * once per process into a temp folder, with the config the float64 reference reads.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHfFolder } from '../../src/engine/model/hf-folder-writer.js';
import { generateRandomGptNeo, type RandomGptNeo } from '../../src/engine/model/random-gpt-neo.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { ReferenceGptNeoConfig } from './reference-gpt-neo.js';
import type { ReferenceWeightTensor } from './reference-gpt2.js';

export interface GptNeoFixture {
  dir: string;
  model: RandomGptNeo;
  /** The checkpoint tensors by HF name, for the reference forward. */
  tensors: Map<string, ReferenceWeightTensor>;
  /** The written config.json, as the reference reads it. */
  referenceConfig: ReferenceGptNeoConfig;
}

const cache = new Map<string, Promise<GptNeoFixture>>();

/** The tiny random GPT-Neo (2 layers: global, then local with a window of 4 keys). */
export function gptNeoFolder(seed: number, options: { tied?: boolean } = {}): Promise<GptNeoFixture> {
  const tied = options.tied ?? true;
  const key = `${seed}-${tied}`;
  let fixture = cache.get(key);
  if (!fixture) {
    fixture = (async () => {
      const model = generateRandomGptNeo({ preset: 'tiny', tied }, seed);
      const dir = mkdtempSync(join(tmpdir(), `ct-gpt-neo-${key}-`));
      await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const tensors = new Map(model.tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
      return { dir, model, tensors, referenceConfig: model.config };
    })();
    cache.set(key, fixture);
  }
  return fixture;
}
