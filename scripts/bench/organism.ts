/**
 * The built-in organism from nothing to a first result: generate the folder into an empty
 * directory, load it through the same path as real models, and analyse the induction preset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { median, type BenchReport } from './stats.js';

export async function benchOrganism(report: BenchReport): Promise<void> {
  const generate: number[] = [],
    load: number[] = [],
    first: number[] = [],
    total: number[] = [];
  let top = '';
  for (let i = 0; i < 5; i++) {
    const root = mkdtempSync(join(tmpdir(), 'ct-organism-bench-'));
    const engine = new Engine();
    try {
      const t0 = performance.now();
      await engine.loadModel({ kind: 'organism', dir: join(root, 'organism') }, { device: 'cpu', maxTokens: 64, offline: true });
      const t1 = performance.now();
      const result = await engine.analyze({ prompt: 'The cat sat on the mat. The cat sat on the' });
      const t2 = performance.now();
      top = `${JSON.stringify(result.predictions[0]?.token)} ${((result.predictions[0]?.prob ?? 0) * 100).toFixed(1)}%`;
      // A second load of the now-existing folder separates generation from loading.
      const engine2 = new Engine();
      const t3 = performance.now();
      await engine2.loadModel({ kind: 'organism', dir: join(root, 'organism') }, { device: 'cpu', maxTokens: 64, offline: true });
      const t4 = performance.now();
      await engine2.dispose();
      generate.push(t1 - t0 - (t4 - t3));
      load.push(t4 - t3);
      first.push(t2 - t1);
      total.push(t2 - t0);
    } finally {
      await engine.dispose();
      rmSync(root, { recursive: true, force: true });
    }
  }
  report('Built-in organism, from nothing to the first result (median of 5)', [
    { step: 'generate the HF folder (config.json, model.safetensors, tokenizer.json)', ms: median(generate) },
    { step: 'load it (read, adapt, build sessions)', ms: median(load) },
    { step: 'first analyze() of the induction preset', ms: median(first) },
    { step: `total, from an empty folder to the result (top prediction ${top})`, ms: median(total) },
  ]);
}
