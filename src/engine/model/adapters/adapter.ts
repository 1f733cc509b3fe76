/**
 * An architecture adapter maps one family's checkpoint (config.json + named tensors) onto the
 * canonical TransformerLens-shaped model. Supporting a new architecture means adding an adapter.
 */
import type { CanonicalModel } from '../weights.js';
import type { TensorSource } from '../tensor-source.js';

export interface ArchitectureAdapter {
  /** Hugging Face `model_type` values this adapter handles. */
  modelTypes: readonly string[];
  adapt(config: Record<string, unknown>, tensors: TensorSource): CanonicalModel;
}
