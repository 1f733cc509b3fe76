/**
 * The instrumented forward pass on ONNX Runtime: a loaded model's sessions (sessions.ts) and its
 * three kinds of run, the plain forward (plain-forward.ts), the variant forward of interventions
 * (variant-forward.ts) and the packed forward of patching sweeps (packed-forward.ts).
 *
 * `run()` of onnxruntime-node blocks the calling thread: construct this inside the engine's worker
 * thread, never on the extension host's thread.
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights, CanonicalModel } from '../model/weights.js';
import { runPacked } from './packed-forward.js';
import { plainForward } from './plain-forward.js';
import { createSessions, releaseSessions, type ModelSessions, type RuntimeOptions } from './sessions.js';
import type { ForwardOptions, ForwardResult, ForwardRunner, InterventionRequest, PackedRunRequest, PackedRunResult } from './types.js';
import { runVariants } from './variant-forward.js';

export type { RuntimeOptions } from './sessions.js';

export class InstrumentedModel implements ForwardRunner {
  private constructor(private readonly sessions: ModelSessions) {}

  static async create(model: CanonicalModel, options: RuntimeOptions = {}): Promise<InstrumentedModel> {
    return new InstrumentedModel(await createSessions(model, options));
  }

  get config(): ModelConfig {
    return this.sessions.config;
  }
  get weights(): AnalysisWeights {
    return this.sessions.weights;
  }
  /** Execution provider actually in use ("cpu", "cuda", ...). */
  get provider(): string {
    return this.sessions.provider;
  }
  /** Why `provider` differs from the request, if it does. */
  get deviceNote(): string | null {
    return this.sessions.deviceNote;
  }

  async forward(ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    return plainForward(this.sessions, ids, options);
  }

  async intervene(request: InterventionRequest): Promise<ForwardResult[]> {
    return runVariants(this.sessions, request);
  }

  async runPacked(request: PackedRunRequest): Promise<PackedRunResult> {
    this.refuseUnpackable('packed patching runs');
    return runPacked(this.sessions, request);
  }

  /** Block graphs without the packed inputs (prefix_rows, routed z rows): patching sweeps run their sites as variants. */
  private refuseUnpackable(what: string): void {
    if (this.sessions.blocks[0]?.inputNames.includes('prefix_rows') !== false) return;
    throw new EngineError(
      'UNSUPPORTED_ARCHITECTURE',
      `${what[0]!.toUpperCase()}${what.slice(1)} are not supported for ${this.config.modelType} models yet.`,
      'These models run interventions as variants (InstrumentedModel.intervene); patching sweeps use them.',
    );
  }

  dispose(): Promise<void> {
    return releaseSessions(this.sessions);
  }
}
