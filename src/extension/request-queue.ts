/**
 * A latest-wins request queue. The engine runs one request at a time; when the user asks for a new
 * analysis while one is running, the running one is cancelled (its AbortController fires) and any
 * request still waiting is dropped, so that only the newest request runs to completion.
 * Pure: no vscode import (unit tested in Node).
 */
import { EngineError } from '../engine/errors.js';

export type QueuedTask<T> = (signal: AbortSignal) => Promise<T>;

interface Waiting {
  start: () => void;
  reject: (error: unknown) => void;
}

export class LatestWinsQueue {
  private running: { controller: AbortController } | null = null;
  private waiting: Waiting | null = null;
  private generation = 0;

  /** True while a task runs or waits. */
  get busy(): boolean {
    return this.running !== null || this.waiting !== null;
  }

  /**
   * Runs `task` once the running task (if any) has settled, cancelling that one first and
   * superseding any task that was still waiting (it rejects with a CANCELLED EngineError).
   * `external` (e.g. a progress notification's cancel button) also cancels this task.
   */
  submit<T>(task: QueuedTask<T>, external?: AbortSignal): Promise<T> {
    this.generation++;
    if (this.waiting) {
      this.waiting.reject(new EngineError('CANCELLED', 'Superseded by a newer request.'));
      this.waiting = null;
    }
    this.running?.controller.abort();

    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        const controller = new AbortController();
        if (external?.aborted) controller.abort();
        const onExternalAbort = (): void => controller.abort();
        external?.addEventListener('abort', onExternalAbort, { once: true });
        this.running = { controller };
        void (async () => {
          let outcome: { ok: true; value: T } | { ok: false; error: unknown };
          try {
            if (controller.signal.aborted) throw new EngineError('CANCELLED', 'The run was cancelled.');
            outcome = { ok: true, value: await task(controller.signal) };
          } catch (error) {
            outcome = { ok: false, error };
          } finally {
            external?.removeEventListener('abort', onExternalAbort);
          }
          // Settle the queue before the caller hears back, so `busy` is already accurate then.
          if (this.running?.controller === controller) this.running = null;
          this.startWaiting();
          if (outcome.ok) resolve(outcome.value);
          else reject(outcome.error);
        })();
      };
      if (this.running) {
        this.waiting = { start, reject };
        if (external) {
          const entry = this.waiting;
          external.addEventListener(
            'abort',
            () => {
              if (this.waiting === entry) {
                this.waiting = null;
                reject(new EngineError('CANCELLED', 'The run was cancelled.'));
              }
            },
            { once: true },
          );
        }
      } else {
        start();
      }
    });
  }

  /** Cancels the running task and drops the waiting one (e.g. when the model changes). */
  cancelAll(reason = 'The run was cancelled.'): void {
    if (this.waiting) {
      this.waiting.reject(new EngineError('CANCELLED', reason));
      this.waiting = null;
    }
    this.running?.controller.abort();
  }

  /** Number of submissions so far; lets callers tell whether a newer request was made since theirs. */
  get submissions(): number {
    return this.generation;
  }

  private startWaiting(): void {
    if (this.running || !this.waiting) return;
    const next = this.waiting;
    this.waiting = null;
    next.start();
  }
}
