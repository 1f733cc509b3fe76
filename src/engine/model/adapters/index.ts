/** The registry of architecture adapters, by Hugging Face `model_type`. */
import { EngineError } from '../../errors.js';
import type { ArchitectureAdapter } from './adapter.js';
import { gemmaAdapter } from './gemma.js';
import { gptNeoAdapter } from './gpt-neo.js';
import { gpt2Adapter } from './gpt2.js';
import { gptNeoxAdapter } from './gpt-neox.js';
import { llamaAdapter } from './llama.js';

const ADAPTERS: readonly ArchitectureAdapter[] = [gpt2Adapter, gptNeoAdapter, llamaAdapter, gemmaAdapter, gptNeoxAdapter];

export const SUPPORTED_MODEL_TYPES: readonly string[] = ADAPTERS.flatMap((a) => a.modelTypes);

export function adapterFor(modelType: unknown): ArchitectureAdapter {
  const adapter = ADAPTERS.find((a) => a.modelTypes.includes(String(modelType)));
  if (!adapter) {
    throw new EngineError(
      'UNKNOWN_ARCHITECTURE',
      `config.json has model_type ${JSON.stringify(modelType)}, which Circuit Trace does not support.`,
      `Supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}.`,
    );
  }
  return adapter;
}
