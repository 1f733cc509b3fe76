/**
 * Seeded random GPT-2 folders for engine tests, generated once per process into a temp folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHfFolder } from '../../src/engine/model/hf-folder-writer.js';
import { generateRandomGpt2, type RandomGpt2 } from '../../src/engine/model/random-gpt2.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { ReferenceWeightTensor } from './reference-gpt2.js';

export interface RandomModelFixture {
  dir: string;
  model: RandomGpt2;
  /** The checkpoint tensors by HF name, for the reference forward. */
  tensors: Map<string, ReferenceWeightTensor>;
}

const cache = new Map<string, Promise<RandomModelFixture>>();
/** The folders this process wrote, removed when it exits (a GPT-2-small folder is half a gigabyte). */
const written: string[] = [];
process.once('exit', () => {
  for (const dir of written) rmSync(dir, { recursive: true, force: true });
});

export function randomModelFolder(
  preset: 'tiny' | 'small',
  seed: number,
  options: { dtype?: 'F32' | 'F16' | 'BF16'; shards?: number } = {},
): Promise<RandomModelFixture> {
  const key = `${preset}-${seed}-${options.dtype ?? 'F32'}-${options.shards ?? 1}`;
  let fixture = cache.get(key);
  if (!fixture) {
    fixture = (async () => {
      const model = generateRandomGpt2({ preset }, seed);
      const dir = mkdtempSync(join(tmpdir(), `ct-${key}-`));
      written.push(dir);
      await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() }, options);
      const tensors = new Map(model.tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
      return { dir, model, tensors };
    })();
    cache.set(key, fixture);
  }
  return fixture;
}

/** Largest absolute difference, and the reference's largest magnitude. */
export function maxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { diff: number; scale: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0,
    scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return { diff, scale };
}

/** Absolute tolerance, or relative to the tensor's largest magnitude where that exceeds 1. */
export function withinTolerance(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): { ok: boolean; diff: number } {
  const { diff, scale } = maxDiff(actual, expected);
  return { ok: diff <= tol * Math.max(1, scale), diff };
}
