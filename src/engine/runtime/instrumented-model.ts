/**
 * The instrumented forward pass on ONNX Runtime: a loaded model's sessions (sessions.ts) and its
 * three kinds of run, the plain forward (plain-forward.ts), the variant forward of interventions
 * (variant-forward.ts) and the packed forward of patching sweeps (packed-forward.ts).
 *
 * `run()` of onnxruntime-node blocks the calling thread: construct this inside the engine's worker
 * thread, never on the extension host's thread.
 */
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

  forward(ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    return plainForward(this.sessions, ids, options);
  }

  intervene(request: InterventionRequest): Promise<ForwardResult[]> {
    return runVariants(this.sessions, request);
  }

  runPacked(request: PackedRunRequest): Promise<PackedRunResult> {
    return runPacked(this.sessions, request);
  }

  dispose(): Promise<void> {
    return releaseSessions(this.sessions);
  }
}
