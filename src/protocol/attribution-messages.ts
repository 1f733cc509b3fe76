/**
 * The Lab's messages for the attribution view (joined into the unions of webview-messages.ts):
 * the webview asks for an attribution map or a path-patching map, the host answers with the map
 * (to every panel), then a `reply`; while a run is going the host says so, per kind of run.
 */
import type { AttributionMap, AttributionMapRequest, PathPatchMap, PathPatchMapRequest } from './attribution.js';

/** The two runs the attribution view asks for. */
export type AttributionRunKind = 'attribution' | 'pathPatch';

// ---------------------------------------------------------------- host → webview

/** An attribution map to show (AtP / AtP* / EAP-IG). */
export interface AttributionMapMessage {
  type: 'attributionMap';
  map: AttributionMap;
}

/** A path-patching map to show. */
export interface PathPatchMapMessage {
  type: 'pathPatchMap';
  map: PathPatchMap;
}

/** A run of `run` started (true) or ended (false); a failed run ends with its error (shown in the view, from any panel or command). */
export interface AttributionBusyMessage {
  type: 'attributionBusy';
  run: AttributionRunKind;
  busy: boolean;
  error?: string;
}

export type AttributionHostMessage = AttributionMapMessage | PathPatchMapMessage | AttributionBusyMessage;

// ---------------------------------------------------------------- webview → host

/** Run an attribution map; answered by `attributionMap`, then `reply`. */
export interface RunAttributionMessage {
  type: 'runAttribution';
  requestId: number;
  request: AttributionMapRequest;
}

/** Run path patching of every sender head to the receivers; answered by `pathPatchMap`, then `reply`. */
export interface RunPathPatchMessage {
  type: 'runPathPatch';
  requestId: number;
  request: PathPatchMapRequest;
}
