/**
 * Runs the attribution view's maps on the active model: attribution (AtP / AtP* / EAP-IG) and
 * path patching, each through its own latest-wins queue, under a cancellable progress
 * notification that counts the engine's streamed passes or senders, with the BOS setting applied
 * as to patch sweeps (a request's own prependBos wins). The model switching cancels them.
 */
import * as vscode from 'vscode';
import type { AttributionMap, AttributionMapRequest, PathPatchMap, PathPatchMapRequest } from '../protocol/attribution.js';
import type { EngineApi } from '../protocol/engine.js';
import { EngineError } from '../engine/errors.js';
import { LatestWinsQueue } from './request-queue.js';
import type { ModelManager } from './model/model-manager.js';
import { prependBosRequest, type Settings } from './settings.js';

const METHOD_NAMES: Record<AttributionMapRequest['method'], string> = { atp: 'AtP', 'atp-star': 'AtP*', 'eap-ig': 'EAP-IG' };

export class AttributionRuns implements vscode.Disposable {
  private readonly attributionQueue = new LatestWinsQueue();
  private readonly pathQueue = new LatestWinsQueue();

  constructor(
    private readonly engine: EngineApi,
    private readonly models: ModelManager,
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    models.onWillSwitch(() => this.cancelAll('The model changed.'));
  }

  cancelAll(reason: string): void {
    this.attributionQueue.cancelAll(reason);
    this.pathQueue.cancelAll(reason);
  }

  dispose(): void {
    this.cancelAll('Circuit Trace is shutting down.');
  }

  attribute(request: AttributionMapRequest): Promise<AttributionMap> {
    return this.withProgress(`${METHOD_NAMES[request.method]} attribution`, this.attributionQueue, async (signal, report) => {
      const map = await this.engine.attribute(
        { prependBos: prependBosRequest(this.settings().prependBos), ...request },
        { signal, onProgress: (p) => report(p.done, p.total, 'passes') },
      );
      this.log.info(`${METHOD_NAMES[map.method]} attribution of ${map.nLayers}×${map.nHeads} heads in ${map.elapsedMs.toFixed(0)} ms.`);
      return map;
    });
  }

  pathPatch(request: PathPatchMapRequest): Promise<PathPatchMap> {
    return this.withProgress(`path patching to ${request.receivers}`, this.pathQueue, async (signal, report) => {
      const map = await this.engine.pathPatch(
        { prependBos: prependBosRequest(this.settings().prependBos), ...request },
        { signal, onProgress: (p) => report(p.done, p.total, 'senders') },
      );
      this.log.info(`Path patching of ${map.entries.length} senders to ${map.receivers} in ${map.elapsedMs.toFixed(0)} ms.`);
      return map;
    });
  }

  private async withProgress<T>(
    what: string,
    queue: LatestWinsQueue,
    task: (signal: AbortSignal, report: (done: number, total: number, unit: string) => void) => Promise<T>,
  ): Promise<T> {
    return await vscode.window.withProgress<T>(
      { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: ${what} on ${this.models.active().displayName}`, cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        let reported = 0;
        return queue.submit(async (signal) => {
          const loaded = await this.models.ensureLoaded({ signal });
          if (!loaded) throw new EngineError('INTERNAL', 'The model did not load.');
          return task(signal, (done, total, unit) => {
            const share = total > 0 ? (100 * done) / total : 0;
            progress.report({ message: `${done} of ${total} ${unit}`, increment: share - reported });
            reported = share;
          });
        }, controller.signal);
      },
    );
  }
}
