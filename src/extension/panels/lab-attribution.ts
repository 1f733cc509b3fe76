/**
 * The Lab host's side of the attribution view: runs the attribution and path-patching maps the
 * webview asks for (one of each kind at a time), keeps the last of each for the snapshot a panel
 * gets on `ready`, broadcasts them and the busy state to every panel, and answers each request
 * with one `reply`. A failure (an architecture without gradient graphs, say) is the reply's error,
 * which the view shows in place of its heatmaps.
 */
import type * as vscode from 'vscode';
import type { AttributionMap, AttributionMapRequest, PathPatchMap, PathPatchMapRequest } from '../../protocol/attribution.js';
import type { AttributionRunKind, RunAttributionMessage, RunPathPatchMessage } from '../../protocol/attribution-messages.js';
import type { HostToWebview, ReplyMessage } from '../../protocol/webview-messages.js';

/** What the attribution view needs from the extension; without a method, that map cannot be run. */
export interface AttributionHost {
  attribute?(request: AttributionMapRequest): Promise<AttributionMap>;
  pathPatch?(request: PathPatchMapRequest): Promise<PathPatchMap>;
  log: Pick<vscode.LogOutputChannel, 'error'>;
}

const RUN_NAMES: Record<AttributionRunKind, string> = { attribution: 'Attribution', pathPatch: 'Path patching' };

/** An error's message with its hint (EngineError's), as one line for the view. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const hint = (error as { hint?: unknown }).hint;
  return typeof hint === 'string' && hint.length > 0 && !error.message.includes(hint) ? `${error.message} ${hint}` : error.message;
}

export class LabAttributionRuns {
  private attributionMap: AttributionMap | null = null;
  private pathPatchMap: PathPatchMap | null = null;
  private readonly busy: Record<AttributionRunKind, boolean> = { attribution: false, pathPatch: false };
  /** Why the last run of each kind failed; null after a success. */
  private readonly errors: Record<AttributionRunKind, string | null> = { attribution: null, pathPatch: null };

  constructor(
    private readonly host: AttributionHost,
    private readonly broadcast: (message: HostToWebview) => void,
  ) {}

  /** The last maps (for exports). */
  get maps(): { attribution: AttributionMap | null; pathPatch: PathPatchMap | null } {
    return { attribution: this.attributionMap, pathPatch: this.pathPatchMap };
  }

  showAttribution(map: AttributionMap): void {
    this.attributionMap = map;
    this.broadcast({ type: 'attributionMap', map });
  }

  showPathPatch(map: PathPatchMap): void {
    this.pathPatchMap = map;
    this.broadcast({ type: 'pathPatchMap', map });
  }

  /** What a freshly loaded page needs: the last maps and the runs still going. */
  snapshot(): HostToWebview[] {
    const out: HostToWebview[] = [];
    if (this.attributionMap) out.push({ type: 'attributionMap', map: this.attributionMap });
    if (this.pathPatchMap) out.push({ type: 'pathPatchMap', map: this.pathPatchMap });
    for (const run of ['attribution', 'pathPatch'] as const) {
      const error = this.errors[run];
      if (this.busy[run]) out.push({ type: 'attributionBusy', run, busy: true });
      else if (error !== null) out.push({ type: 'attributionBusy', run, busy: false, error });
    }
    return out;
  }

  /** Runs what the message asks for; `reply` gets exactly one answer. */
  async run(message: RunAttributionMessage | RunPathPatchMessage, reply: (message: ReplyMessage) => void): Promise<void> {
    const { requestId } = message;
    try {
      if (message.type === 'runAttribution') await this.attribute(message.request);
      else await this.pathPatch(message.request);
      reply({ type: 'reply', requestId, ok: true });
    } catch (error) {
      reply({ type: 'reply', requestId, ok: false, error: errorText(error) });
    }
  }

  /** Runs an attribution map and shows it in every panel (the Lab's form, or a command). */
  attribute(request: AttributionMapRequest): Promise<AttributionMap> {
    return this.runOne('attribution', this.host.attribute?.bind(this.host), request, (map) => this.showAttribution(map));
  }

  /** Runs a path-patching map and shows it in every panel. */
  pathPatch(request: PathPatchMapRequest): Promise<PathPatchMap> {
    return this.runOne('pathPatch', this.host.pathPatch?.bind(this.host), request, (map) => this.showPathPatch(map));
  }

  private async runOne<Q, R>(run: AttributionRunKind, task: ((request: Q) => Promise<R>) | undefined, request: Q, show: (result: R) => void): Promise<R> {
    if (this.busy[run]) throw new Error(`${RUN_NAMES[run]} is already running; wait for it to finish.`);
    if (!task) throw new Error(`${RUN_NAMES[run]} is not available here.`);
    this.busy[run] = true;
    this.errors[run] = null;
    this.broadcast({ type: 'attributionBusy', run, busy: true });
    try {
      const result = await task(request);
      show(result);
      return result;
    } catch (error) {
      this.errors[run] = errorText(error);
      this.host.log.error(`Lab: ${RUN_NAMES[run].toLowerCase()} failed: ${this.errors[run]}`);
      throw error;
    } finally {
      this.busy[run] = false;
      const error = this.errors[run];
      this.broadcast({ type: 'attributionBusy', run, busy: false, ...(error !== null ? { error } : {}) });
    }
  }
}
