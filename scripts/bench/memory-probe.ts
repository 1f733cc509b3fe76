/**
 * Run in a fresh process by the benchmark (with --expose-gc): loads a model folder into the engine
 * as the extension does, and prints its resident memory once loaded and its peak during load
 * (VmHWM), as JSON.
 */
import { readFileSync } from 'node:fs';
import { loadModelFolder } from '../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';

/** Loads like load-model.ts: the checkpoint's buffers are garbage once the runner exists. */
async function load(folder: string): Promise<{ model: InstrumentedModel; weightBytes: number }> {
  const loaded = await loadModelFolder(folder);
  return { model: await InstrumentedModel.create(loaded.model, { device: 'cpu' }), weightBytes: loaded.weightBytes };
}

async function probe(): Promise<void> {
  const folder = process.argv[2];
  if (!folder) throw new Error('usage: memory-probe.ts FOLDER');
  const gc = (globalThis as { gc?: () => void }).gc;
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const { model, weightBytes } = await load(folder);
  const loadMs = performance.now() - started;
  await model.forward([1, 2, 3, 4], { hooks: ['logits'] });
  // What a long-lived process settles at: collect the load's garbage first.
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc?.();
  const afterLoad = process.memoryUsage().rss;
  const peak = peakRss();
  process.stdout.write(JSON.stringify({ baseline, afterLoad, peak, weightBytes, loadMs, collected: gc !== undefined }) + '\n');
  await model.dispose();
}

/**
 * This process's peak resident memory. Linux's VmHWM belongs to this address space; getrusage's
 * maxRSS survives exec, so a child spawned by a big parent would report the parent's peak.
 */
function peakRss(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) * 1024;
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024;
}

probe().catch((error: unknown) => {
  process.stderr.write(String(error) + '\n');
  process.exitCode = 1;
});
