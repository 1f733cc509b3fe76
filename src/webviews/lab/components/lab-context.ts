/** What every view gets from the Lab: the state, the palette, and the actions that reach the host. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { PatchRequest } from '../../../protocol/engine.js';
import type { AttributionMapRequest, PathPatchMapRequest } from '../../../protocol/attribution.js';
import type { FeatureEdit } from '../../../protocol/features.js';
import type { ExportFormat, LabPanelContent, LabSelection, LabViewId, TraceMetric } from '../../../protocol/webview-messages.js';
import type { Palette } from '../shared/colour.js';
import type { LabState } from '../state/lab-state.js';

export interface LabActions {
  /** Select in this panel and every other (sent to the host). */
  select(selection: LabSelection): void;
  openView(view: LabViewId): void;
  /** Switch the trace metric; asks the host for the other trace when it is not held. */
  setTraceMetric(metric: TraceMetric): void;
  runPatch(request: PatchRequest): Promise<void>;
  /** Check an edge of the circuit by path patching (the answer arrives as state.edgeCheck). */
  checkEdge(from: string, to: string): Promise<void>;
  /** Measure the circuit at `edges` top edges (the answer arrives as a new point of state.circuit's curve). */
  measureCircuitSize(edges: number): Promise<void>;
  /** Run an attribution map (the answer arrives as state.attribution.map). */
  runAttribution(request: AttributionMapRequest): Promise<void>;
  /** Run path patching of every sender head (the answer arrives as state.attribution.pathPatch). */
  runPathPatch(request: PathPatchMapRequest): Promise<void>;
  /** Steer features of the shown features' prompt (the answer arrives as state.features.steered). */
  steerFeatures(edits: FeatureEdit[], position?: number): Promise<void>;
  /** Build the shown attribution graph again at other thresholds (the answer arrives as state.features.graph). */
  rebuildGraph(nodeThreshold: number, edgeThreshold: number): Promise<void>;
  /** Save the shown graph as circuit-tracer JSON with these pins and supernodes ([name, ...ids]). */
  exportGraph(pins: { pinnedIds: string[]; supernodes: string[][] }): Promise<void>;
  /** Send an export to the host (which asks where to save it). */
  exportView(view: LabPanelContent, format: ExportFormat, data?: Uint8Array | string): Promise<void>;
  /** A view has drawn the current result (for data-render-ms). */
  reportDrawn(view: LabViewId): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

export interface LabContextValue {
  state: LabState;
  palette: Palette;
  actions: LabActions;
}

export const LabContext = createContext<LabContextValue | null>(null);

export function useLab(): LabContextValue {
  const value = useContext(LabContext);
  if (!value) throw new Error('useLab outside the Lab');
  return value;
}
