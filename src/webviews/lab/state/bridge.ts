/**
 * The webview's side of the protocol: typed posting, request/reply by id, the `ready` handshake,
 * and the persisted state (getState/setState). The VS Code API object and the window are passed
 * in, so that a fake `acquireVsCodeApi` drives it in Node tests.
 */
import type { HostToWebview, LabPersistedState, WebviewToHost } from '../../../protocol/webview-messages.js';
import { isLabViewId } from '../../../protocol/webview-messages.js';

/** What `acquireVsCodeApi()` returns (the subset the Lab uses). */
export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

/** Where host messages arrive (the window, in a webview). */
export interface MessageSource {
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

const HOST_MESSAGE_TYPES: ReadonlySet<string> = new Set<HostToWebview['type']>([
  'analysisStarted',
  'layer',
  'analysis',
  'analysisMissing',
  'trace',
  'patch',
  'patchBusy',
  'select',
  'circuit',
  'edgeCheck',
  'circuitSize',
  'attributionMap',
  'pathPatchMap',
  'attributionBusy',
  'features',
  'steered',
  'featureBusy',
  'attributionGraph',
  'reply',
]);

/** Requests that carry an id (the host answers each with a `reply`). */
type RequestMessage = Extract<WebviewToHost, { requestId: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The persisted state, if it has the expected shape (it was written by an earlier version of this page). */
export function readPersistedState(raw: unknown): LabPersistedState | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (r.version !== 1) return null;
  if (r.content !== 'lab' && !isLabViewId(r.content)) return null;
  const historyId = typeof r.historyId === 'string' ? r.historyId : null;
  const sel = typeof r.selection === 'object' && r.selection !== null ? (r.selection as Record<string, unknown>) : {};
  const selection: LabPersistedState['selection'] = {};
  for (const key of ['layer', 'head', 'position'] as const) {
    const v = sel[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) selection[key] = v;
  }
  return { version: 1, content: r.content, historyId, selection };
}

export class LabBridge {
  private nextRequestId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly listener: (event: { data: unknown }) => void;
  private handler: ((message: HostToWebview) => void) | null = null;
  /** Messages that arrived before a handler was attached (delivered to the first one). */
  private readonly early: HostToWebview[] = [];

  constructor(
    private readonly api: VsCodeApi,
    private readonly source: MessageSource,
  ) {
    this.listener = (event) => this.receive(event.data);
    source.addEventListener('message', this.listener);
  }

  /** The state this page persisted before a reload, if any. */
  restoredState(): LabPersistedState | null {
    return readPersistedState(this.api.getState());
  }

  saveState(state: LabPersistedState): void {
    this.api.setState(state);
  }

  /** Attaches the handler for host messages (replies are consumed here) and tells the host we listen. */
  start(handler: (message: HostToWebview) => void): void {
    this.handler = handler;
    for (const message of this.early.splice(0)) handler(message);
    this.post({ type: 'ready', restore: this.restoredState() });
  }

  post(message: WebviewToHost): void {
    this.api.postMessage(message);
  }

  /** Sends a request and resolves when the host replies ok (rejects with the host's message otherwise). */
  request(message: DistributiveOmit<RequestMessage, 'requestId'>): Promise<void> {
    const requestId = this.nextRequestId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(requestId, { resolve, reject });
      this.post({ ...message, requestId } as RequestMessage);
    });
  }

  dispose(): void {
    this.source.removeEventListener('message', this.listener);
    for (const { reject } of this.waiting.values()) reject(new Error('The Lab was closed.'));
    this.waiting.clear();
  }

  private receive(data: unknown): void {
    if (typeof data !== 'object' || data === null) return;
    const type = (data as { type?: unknown }).type;
    if (typeof type !== 'string' || !HOST_MESSAGE_TYPES.has(type)) return;
    const message = data as HostToWebview;
    if (message.type === 'reply') {
      const waiter = this.waiting.get(message.requestId);
      if (!waiter) return;
      this.waiting.delete(message.requestId);
      if (message.ok) waiter.resolve();
      else waiter.reject(new Error(message.error ?? 'The request failed.'));
      return;
    }
    if (this.handler) this.handler(message);
    else this.early.push(message);
  }
}
