/**
 * A `@circuit` hypothesis checked on the loaded model (src/engine/circuits/circuit-check.ts): the
 * circuit of the named nodes, measured exactly by edge-level patching, against its threshold.
 * Shared by the CLI (`circuit-trace prompts FILE --check`) and the extension (the @circuit CodeLens).
 */
import type { MetricName } from './analysis.js';
import type { MetricRequest, TokenRef } from './engine.js';

export interface CircuitCheckRequest {
  clean: string;
  corrupt: string;
  /** As PatchRequest.prependBos, for both prompts. */
  prependBos?: boolean;
  /** Absent: the clean prompt's top prediction, as the patch CodeLens does. */
  target?: TokenRef;
  contrast?: TokenRef;
  metric?: MetricRequest;
  /** The named nodes: heads `L9H6` and MLPs `mlp3`. */
  nodes: string[];
  /** The least faithfulness that holds the hypothesis, a fraction 0..1. */
  threshold: number;
}

export interface CircuitCheckResult {
  nodes: string[];
  threshold: number;
  /** (m_circuit − m_corrupt) / (m_clean − m_corrupt); NaN when the clean and corrupted metrics agree. */
  faithfulness: number;
  /** faithfulness ≥ threshold (false when it is NaN). */
  passed: boolean;
  /** Edges in the circuit, and in the model's whole edge graph. */
  edges: number;
  totalEdges: number;
  /** The metric of the clean run, the corrupted run and the circuit. */
  clean: number;
  corrupt: number;
  circuit: number;
  metric: MetricName;
  targetId: number;
  contrastId: number | null;
  prependBos: boolean;
  elapsedMs: number;
}
