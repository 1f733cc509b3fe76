/**
 * The Lab's messages for the Features view (joined into the unions of webview-messages.ts): the
 * host sends a prompt's features under the loaded dictionary and the predictions before and after
 * a steering edit; the webview asks for a steering run on the shown prompt. The webview never names
 * a dictionary or a prompt: the host steers the prompt and dictionary of the features it last sent,
 * so a webview cannot make the engine read an arbitrary folder.
 */
import type { AttributionGraphResult } from './attribution-graph-run.js';
import type { FeatureEdit, FeaturesResult, SteerFeaturesResult } from './features.js';

/** The runs the feature views wait on. */
export type FeatureRunKind = 'features' | 'steer' | 'graph';

/** At most this many edits in one steering request (the form adds one feature at a time). */
export const MAX_FEATURE_EDITS = 64;

// ---------------------------------------------------------------- host → webview

/** A prompt's features under a dictionary, to show in the Features view. */
export interface FeaturesMessage {
  type: 'features';
  result: FeaturesResult;
  /** The dictionary as the user named it (a Hub repo and subfolder, or a folder). */
  dictionaryName: string;
}

/** Predictions before and after a steering run of the shown features' prompt. */
export interface SteeredMessage {
  type: 'steered';
  result: SteerFeaturesResult;
  /** The edits as they were asked for. */
  edits: FeatureEdit[];
}

/** A run of `run` started (true) or ended (false). */
export interface FeatureBusyMessage {
  type: 'featureBusy';
  run: FeatureRunKind;
  busy: boolean;
}

/** An attribution graph to show in the Attribution Graph view. */
export interface AttributionGraphMessage {
  type: 'attributionGraph';
  graph: AttributionGraphResult;
  /** The transcoders as the user named them. */
  dictionaryName: string;
  /** Whether the host can build the graph again at other thresholds. */
  canRebuild: boolean;
  /** Whether the host can save the graph as circuit-tracer's JSON. */
  canExportJson: boolean;
}

export type FeatureHostMessage = FeaturesMessage | SteeredMessage | FeatureBusyMessage | AttributionGraphMessage;

// ---------------------------------------------------------------- webview → host

/** Steer (or ablate: set to 0) features of the shown prompt; answered by `steered`, then `reply`. */
export interface SteerFeaturesMessage {
  type: 'steerFeatures';
  requestId: number;
  edits: FeatureEdit[];
  /** The position whose predictions are compared (default: the last). */
  position?: number;
}

/** Build the shown graph again with other pruning thresholds; answered by `attributionGraph`, then `reply`. */
export interface RebuildGraphMessage {
  type: 'rebuildGraph';
  requestId: number;
  /** Shares of influence kept, in (0, 1]. */
  nodeThreshold: number;
  edgeThreshold: number;
}

/** At most this many pins, supernodes and members per supernode in an export. */
export const MAX_GRAPH_PINS = 2000;

/** Save the shown graph as circuit-tracer's graph JSON with the user's pins and supernodes (its qParams). */
export interface ExportGraphMessage {
  type: 'exportGraph';
  requestId: number;
  pinnedIds: string[];
  /** circuit-tracer's supernodes: each [name, ...node ids]. */
  supernodes: string[][];
}
