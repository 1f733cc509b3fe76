/**
 * Run in a fresh process by the benchmark: loads a model folder into the engine and prints its
 * resident memory once loaded and its peak during load (process.resourceUsage().maxRSS), as JSON.
 */
import { loadModelFolder } from '../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';

async function probe(): Promise<void> {
  const folder = process.argv[2];
  if (!folder) throw new Error('usage: memory-probe.ts FOLDER');
  const baseline = process.memoryUsage().rss;
  const loaded = await loadModelFolder(folder);
  const model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
  await model.forward([1, 2, 3, 4], { hooks: ['logits'] });
  const afterLoad = process.memoryUsage().rss;
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ baseline, afterLoad, peak, weightBytes: loaded.weightBytes }) + '\n');
  await model.dispose();
}

probe().catch((error: unknown) => {
  process.stderr.write(String(error) + '\n');
  process.exitCode = 1;
});
