/**
 * The Lab host's side of the Features and Attribution Graph views: keeps the features last shown
 * (with the dictionary and token ids they were computed from), the last steering run and the graph
 * shown (with what it was built from), for the snapshot a panel gets on `ready`; broadcasts them and
 * the busy state to every panel; and runs what the webviews ask for on the shown prompt and
 * dictionary (steering, the graph at other thresholds, its circuit-tracer JSON with the user's pins
 * and supernodes), answering each request with one `reply`.
 */
import type { AttributionGraphResult } from '../../protocol/attribution-graph-run.js';
import type { DictionarySpec, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../../protocol/features.js';
import type { ExportGraphMessage, FeatureHostMessage, FeatureRunKind, RebuildGraphMessage, SteerFeaturesMessage } from '../../protocol/feature-messages.js';
import type { HostToWebview, ReplyMessage } from '../../protocol/webview-messages.js';

/** What an attribution graph was built from: the prompt as token ids, the transcoders, and its text for the export. */
export interface GraphSource {
  ids: number[];
  prompt: string;
  dictionary: DictionarySpec;
  dictionaryName: string;
}

/** circuit-tracer's qParams of an export: the pinned node ids and the supernodes, each [name, ...node ids]. */
export interface GraphPins {
  pinnedIds: string[];
  supernodes: string[][];
}

/** What the feature views need from the extension; without a method, that request is refused. */
export interface FeatureLabHost {
  steerFeatures?(request: SteerFeaturesRequest): Promise<SteerFeaturesResult>;
  /** The graph of `source` built again at other thresholds. */
  rebuildGraph?(source: GraphSource, thresholds: { nodeThreshold: number; edgeThreshold: number }): Promise<AttributionGraphResult>;
  /** Saves `graph` (of `source`) as circuit-tracer's graph JSON with the pins; false when the user cancelled. */
  saveGraphJson?(source: GraphSource, graph: AttributionGraphResult, pins: GraphPins): Promise<boolean>;
  log: { error(message: string): void; info?(message: string): void };
}

/** An error's message with its hint (EngineError's), as one line for the view. */
export function errorLine(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const hint = (error as { hint?: unknown }).hint;
  return typeof hint === 'string' && hint.length > 0 && !error.message.includes(hint) ? `${error.message} ${hint}` : error.message;
}

export class LabFeatureRuns {
  private shown: { result: FeaturesResult; dictionary: DictionarySpec; dictionaryName: string } | null = null;
  private steered: Extract<FeatureHostMessage, { type: 'steered' }> | null = null;
  private graph: { graph: AttributionGraphResult; source: GraphSource } | null = null;
  private readonly busy: Record<FeatureRunKind, boolean> = { features: false, steer: false, graph: false };

  constructor(
    private readonly host: FeatureLabHost,
    private readonly broadcast: (message: HostToWebview) => void,
  ) {}

  /** The features shown now, with what they were computed from. */
  get current(): { result: FeaturesResult; dictionary: DictionarySpec; dictionaryName: string } | null {
    return this.shown;
  }

  showFeatures(result: FeaturesResult, dictionary: DictionarySpec, dictionaryName: string): void {
    this.shown = { result, dictionary, dictionaryName };
    this.steered = null;
    this.broadcast({ type: 'features', result, dictionaryName });
  }

  /** The graph shown now, with what it was built from. */
  get currentGraph(): { graph: AttributionGraphResult; source: GraphSource } | null {
    return this.graph;
  }

  showGraph(graph: AttributionGraphResult, source: GraphSource): void {
    this.graph = { graph, source };
    this.broadcast(this.graphMessage());
  }

  private graphMessage(): HostToWebview {
    const { graph, source } = this.graph!;
    return {
      type: 'attributionGraph',
      graph,
      dictionaryName: source.dictionaryName,
      canRebuild: this.host.rebuildGraph !== undefined,
      canExportJson: this.host.saveGraphJson !== undefined,
    };
  }

  setBusy(run: FeatureRunKind, busy: boolean): void {
    this.busy[run] = busy;
    this.broadcast({ type: 'featureBusy', run, busy });
  }

  /** What a freshly loaded page needs: the shown features, the last steering run, the runs still going. */
  snapshot(): HostToWebview[] {
    const out: HostToWebview[] = [];
    if (this.shown) out.push({ type: 'features', result: this.shown.result, dictionaryName: this.shown.dictionaryName });
    if (this.steered) out.push(this.steered);
    if (this.graph) out.push(this.graphMessage());
    for (const run of ['features', 'steer', 'graph'] as const) if (this.busy[run]) out.push({ type: 'featureBusy', run, busy: true });
    return out;
  }

  /** Steers the shown prompt's features as the message asks; `reply` gets exactly one answer. */
  async steer(message: SteerFeaturesMessage, reply: (message: ReplyMessage) => void): Promise<void> {
    const { requestId } = message;
    const shown = this.shown;
    const fail = (error: string): void => reply({ type: 'reply', requestId, ok: false, error });
    if (!shown) return fail('There are no features to steer; run Show Features first.');
    if (!this.host.steerFeatures) return fail('Steering is not available here.');
    if (this.busy.steer) return fail('A steering run is already going; wait for it to finish.');
    const nPos = shown.result.tokens.length;
    const nLayers = new Set(shown.result.layers.map((l) => l.layer));
    for (const edit of message.edits) {
      if (!nLayers.has(edit.layer)) return fail(`The dictionary has no layer ${edit.layer}.`);
      const bad = edit.positions?.find((p) => p >= nPos);
      if (bad !== undefined) return fail(`Position ${bad} is past the prompt's ${nPos} tokens.`);
    }
    if (message.position !== undefined && message.position >= nPos) return fail(`Position ${message.position} is past the prompt's ${nPos} tokens.`);
    const request: SteerFeaturesRequest = {
      dictionary: shown.dictionary,
      ids: shown.result.tokens.map((t) => t.id),
      edits: message.edits,
      ...(message.position !== undefined ? { position: message.position } : {}),
    };
    this.setBusy('steer', true);
    try {
      const result = await this.host.steerFeatures(request);
      // A newer Show Features replaced the prompt meanwhile: this run no longer matches what is shown.
      if (this.shown === shown) {
        this.steered = { type: 'steered', result, edits: message.edits };
        this.broadcast(this.steered);
      }
      reply({ type: 'reply', requestId, ok: true });
    } catch (error) {
      const text = errorLine(error);
      this.host.log.error(`Lab: steering failed: ${text}`);
      fail(text);
    } finally {
      this.setBusy('steer', false);
    }
  }

  /** Builds the shown graph again with the message's thresholds. */
  async rebuildGraph(message: RebuildGraphMessage, reply: (message: ReplyMessage) => void): Promise<void> {
    const { requestId } = message;
    const fail = (error: string): void => reply({ type: 'reply', requestId, ok: false, error });
    const shown = this.graph;
    if (!shown) return fail('There is no attribution graph; run "Circuit Trace: Attribution Graph" first.');
    if (!this.host.rebuildGraph) return fail('Rebuilding the graph is not available here.');
    if (this.busy.graph) return fail('An attribution graph is already being built; wait for it to finish.');
    this.setBusy('graph', true);
    try {
      const graph = await this.host.rebuildGraph(shown.source, { nodeThreshold: message.nodeThreshold, edgeThreshold: message.edgeThreshold });
      if (this.graph === shown) this.showGraph(graph, shown.source);
      reply({ type: 'reply', requestId, ok: true });
    } catch (error) {
      const text = errorLine(error);
      this.host.log.error(`Lab: rebuilding the attribution graph failed: ${text}`);
      fail(text);
    } finally {
      this.setBusy('graph', false);
    }
  }

  /** Saves the shown graph as circuit-tracer JSON with the webview's pins (only ids of the graph's nodes are kept). */
  async exportGraph(message: ExportGraphMessage, reply: (message: ReplyMessage) => void): Promise<void> {
    const { requestId } = message;
    const shown = this.graph;
    if (!shown) return reply({ type: 'reply', requestId, ok: false, error: 'There is no attribution graph to export.' });
    if (!this.host.saveGraphJson) return reply({ type: 'reply', requestId, ok: false, error: 'Exporting the graph is not available here.' });
    const ids = new Set(shown.graph.nodes.map((n) => n.id));
    const pins: GraphPins = {
      pinnedIds: message.pinnedIds.filter((id) => ids.has(id)),
      supernodes: message.supernodes.map(([name, ...members]) => [name!, ...members.filter((id) => ids.has(id))]).filter((s) => s.length > 1),
    };
    try {
      const saved = await this.host.saveGraphJson(shown.source, shown.graph, pins);
      if (saved) this.host.log.info?.('Lab: exported the attribution graph as circuit-tracer JSON.');
      reply({ type: 'reply', requestId, ok: true });
    } catch (error) {
      const text = errorLine(error);
      this.host.log.error(`Lab: exporting the attribution graph failed: ${text}`);
      reply({ type: 'reply', requestId, ok: false, error: text });
    }
  }
}
