/**
 * What circuit work needs beside the loaded model: the edge patcher's split-input graphs and, for
 * discovery, an edge scorer (EAP / EAP-IG). Both are built from the model's canonical weights,
 * which the engine drops once the forward graphs exist, so the engine makes them on first use by
 * reading the model folder once more, and releases them together with the model (engine.ts is
 * their one owner; anything else that needs the patcher asks the engine for these tools).
 */
import { EngineError } from '../errors.js';
import { loadModelFolder } from '../model/load-folder.js';
import type { CanonicalModel } from '../model/weights.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { AttributionOptions, AttributionRequest, AttributionResult } from '../attribution/attribution-types.js';
import type { EdgeScorer } from './discover-circuit.js';
import { EdgeGraph } from './edge-graph.js';
import { EdgePatcher } from './edge-patcher.js';

/** An edge scorer with the resources it holds (its gradient graphs, say). */
export interface EdgeScorerHandle {
  score: EdgeScorer;
  /** Node and edge attribution (AtP, AtP*, EAP, EAP-IG) on the same gradient graphs, when the scorer has them. */
  attribute?: (request: AttributionRequest, options?: AttributionOptions) => Promise<AttributionResult>;
  dispose(): Promise<void>;
}

/** Builds the edge scorer for one model; the canonical weights are only valid during the call. */
export type EdgeScorerFactory = (model: CanonicalModel, runner: ForwardRunner, graph: EdgeGraph) => Promise<EdgeScorerHandle>;

export class CircuitTools {
  private constructor(
    /** The edge patcher, or why there is none (an architecture without edges between heads: Gemma). */
    private readonly edgePatcher: EdgePatcher | EngineError,
    /** The edge scorer, or why there is none (no factory, or one that refused this model). */
    private readonly scorer: EdgeScorerHandle | EngineError,
  ) {}

  /** The edge patcher; a typed error when the architecture has no edges. */
  get patcher(): EdgePatcher {
    if (this.edgePatcher instanceof EngineError) throw this.edgePatcher;
    return this.edgePatcher;
  }

  /** The edge scorer; a typed error when there is none for this model. */
  get scoreEdges(): EdgeScorer {
    if (this.scorer instanceof EngineError) throw this.scorer;
    return this.scorer.score;
  }

  /** Attribution on the scorer's gradient graphs; the scorer's typed error (UNSUPPORTED_ARCHITECTURE, say) when there are none. */
  get attribute(): NonNullable<EdgeScorerHandle['attribute']> {
    if (this.scorer instanceof EngineError) throw this.scorer;
    if (!this.scorer.attribute) throw new EngineError('INTERNAL', "This engine's edge scorer does not expose attribution (AtP / AtP* / EAP-IG).");
    return this.scorer.attribute;
  }

  /** Reads the model in `folder` again (the one `runner` runs) and builds the patcher, and the scorer when there is a factory, from it. */
  static async create(folder: string, runner: ForwardRunner, scorerFactory: EdgeScorerFactory | undefined): Promise<CircuitTools> {
    const { model } = await loadModelFolder(folder);
    if (model.config.nLayers !== runner.config.nLayers || model.config.dModel !== runner.config.dModel) {
      throw new EngineError('INTERNAL', `The model folder ${folder} no longer holds the loaded model; load the model again.`);
    }
    let patcher: EdgePatcher | EngineError;
    try {
      patcher = await EdgePatcher.create(model, runner);
    } catch (error) {
      // A model without edges (Gemma) still gets its scorer: node attribution needs only the gradient graphs.
      if (!(error instanceof EngineError && error.code === 'UNSUPPORTED_ARCHITECTURE')) throw error;
      patcher = error;
    }
    if (!scorerFactory)
      return new CircuitTools(
        patcher,
        new EngineError('INTERNAL', 'Circuit discovery needs edge scores (EAP / EAP-IG), and this engine was started without an edge scorer.'),
      );
    try {
      const graph = patcher instanceof EngineError ? new EdgeGraph(model.config) : patcher.graph;
      return new CircuitTools(patcher, await scorerFactory(model, runner, graph));
    } catch (error) {
      // A model the scorer refuses (an architecture without gradient graphs) still has its patcher.
      if (error instanceof EngineError && error.code === 'UNSUPPORTED_ARCHITECTURE') return new CircuitTools(patcher, error);
      if (!(patcher instanceof EngineError)) await patcher.dispose();
      throw error;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([
      this.edgePatcher instanceof EngineError ? undefined : this.edgePatcher.dispose(),
      this.scorer instanceof EngineError ? undefined : this.scorer.dispose(),
    ]);
  }
}
