/**
 * A model loaded together with its EdgePatcher, for the CLI's circuit checks: the patcher builds its
 * split-input graphs from the canonical weights, which the engine does not keep once ONNX Runtime
 * holds its copy (runtime/analysis-weights.ts), so the CLI makes both from one read of the folder.
 * The engine makes its patcher for an already loaded model on the first circuit request
 * (circuit-tools.ts).
 */
import type { LoadOptions, ModelSpec } from '../../protocol/engine.js';
import { loadModelFolder } from '../model/load-folder.js';
import { resolveModelFolder } from '../model/load-model.js';
import { assertSplitInputSupported } from '../onnx/split-input-graphs.js';
import { InstrumentedModel } from '../runtime/instrumented-model.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { EdgePatcher } from './edge-patcher.js';

export interface CircuitModel {
  runner: InstrumentedModel;
  tokenizer: PromptTokenizer;
  patcher: EdgePatcher;
  displayName: string;
  dispose(): Promise<void>;
}

/** Loads a model with its edge patcher (an unsupported architecture fails with UNSUPPORTED_ARCHITECTURE before any graph is built). */
export async function loadCircuitModel(spec: ModelSpec, options: LoadOptions): Promise<CircuitModel> {
  const { folder, displayName } = await resolveModelFolder(spec, options);
  const { model, tokenizer } = await loadModelFolder(folder);
  assertSplitInputSupported(model.config);
  const runner = await InstrumentedModel.create(model, { device: options.device });
  let patcher: EdgePatcher;
  try {
    patcher = await EdgePatcher.create(model, runner);
  } catch (error) {
    await runner.dispose();
    throw error;
  }
  return {
    runner,
    tokenizer,
    patcher,
    displayName,
    dispose: async () => {
      await patcher.dispose();
      await runner.dispose();
    },
  };
}
