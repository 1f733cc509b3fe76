/**
 * Checks of `@circuit` hypotheses from the CodeLens: each runs on the active model under a
 * cancellable progress notification, and its verdict is kept by request (text, nodes, threshold,
 * metric), model and BOS setting, so that an edit or a model switch shows "Check circuit" again
 * instead of a verdict about something else.
 */
import * as vscode from 'vscode';
import type { CircuitCheckRequest, CircuitCheckResult } from '../protocol/circuit-check.js';
import type { EngineApi } from '../protocol/engine.js';
import { EngineError, isEngineError } from '../engine/errors.js';
import { shortPromptName } from './history-store.js';
import type { ModelManager } from './model/model-manager.js';
import { ResultCache } from './result-cache.js';
import { prependBosRequest, type Settings } from './settings.js';
import type { CircuitRunState } from './prompt-file/codelens-content.js';

type Verdict = { result: CircuitCheckResult } | { error: string };

export class CircuitChecks implements vscode.Disposable {
  private readonly verdicts = new ResultCache<Verdict>(64);
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly engine: EngineApi,
    private readonly models: ModelManager,
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
    /** Called when a check starts or ends (the CodeLens refreshes). */
    private readonly changed: () => void,
  ) {}

  private key(request: CircuitCheckRequest): string {
    return JSON.stringify([this.models.active().id, this.settings().prependBos, request]);
  }

  /** What the lens of this hypothesis shows on the active model. */
  state(request: CircuitCheckRequest): CircuitRunState {
    const key = this.key(request);
    const verdict = this.verdicts.peek(key);
    return {
      modelName: this.models.active().displayName,
      ...(this.running.has(key) ? { running: true } : {}),
      ...(verdict && 'result' in verdict ? { result: verdict.result } : {}),
      ...(verdict && 'error' in verdict ? { error: verdict.error } : {}),
    };
  }

  async check(request: CircuitCheckRequest, promptName: string): Promise<CircuitCheckResult> {
    const key = this.key(request);
    if (this.running.has(key)) throw new EngineError('BAD_ARGUMENT', 'This circuit is being checked already.');
    const controller = new AbortController();
    this.running.set(key, controller);
    this.changed();
    try {
      return await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Circuit Trace: checking a circuit of "${shortPromptName(promptName, 40)}"`,
          cancellable: true,
        },
        async (_progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          const loaded = await this.models.ensureLoaded({ signal: controller.signal });
          if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
          const prependBos = prependBosRequest(this.settings().prependBos);
          const result = await this.engine.checkCircuit({ ...(prependBos !== undefined ? { prependBos } : {}), ...request }, { signal: controller.signal });
          this.verdicts.set(key, { result });
          this.log.info(
            `Circuit ${result.nodes.join(' ')} of "${promptName}" on ${loaded.info.displayName}: ${(result.faithfulness * 100).toFixed(1)}% ` +
              `(needs ≥ ${(result.threshold * 100).toFixed(1)}%), ${result.passed ? 'holds' : 'does not hold'}; ${result.edges} edges, ${result.elapsedMs.toFixed(0)} ms.`,
          );
          return result;
        },
      );
    } catch (error) {
      if (!(isEngineError(error) && error.code === 'CANCELLED')) this.verdicts.set(key, { error: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      this.running.delete(key);
      this.changed();
    }
  }

  cancelAll(): void {
    for (const controller of this.running.values()) controller.abort();
  }

  dispose(): void {
    this.cancelAll();
  }
}
