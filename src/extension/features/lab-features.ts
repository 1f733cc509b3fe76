/**
 * The Lab host's side of the Features view: keeps the features last shown (with the dictionary and
 * token ids they were computed from) and the last steering run, for the snapshot a panel gets on
 * `ready`; broadcasts them and the busy state to every panel; and runs the steering the webview
 * asks for on the shown prompt and dictionary, answering each request with one `reply`.
 */
import type { DictionarySpec, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../../protocol/features.js';
import type { FeatureHostMessage, FeatureRunKind, SteerFeaturesMessage } from '../../protocol/feature-messages.js';
import type { HostToWebview, ReplyMessage } from '../../protocol/webview-messages.js';

/** What the Features view needs from the extension; without `steerFeatures`, it cannot steer. */
export interface FeatureLabHost {
  steerFeatures?(request: SteerFeaturesRequest): Promise<SteerFeaturesResult>;
  log: { error(message: string): void };
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

  setBusy(run: FeatureRunKind, busy: boolean): void {
    this.busy[run] = busy;
    this.broadcast({ type: 'featureBusy', run, busy });
  }

  /** What a freshly loaded page needs: the shown features, the last steering run, the runs still going. */
  snapshot(): HostToWebview[] {
    const out: HostToWebview[] = [];
    if (this.shown) out.push({ type: 'features', result: this.shown.result, dictionaryName: this.shown.dictionaryName });
    if (this.steered) out.push(this.steered);
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
}
