/**
 * The Lab's messages for the circuit view's size slider (joined into the unions of
 * webview-messages.ts): the webview asks for the shown circuit at a size its faithfulness curve has
 * not measured; the host measures it from the discovery's edge scores (Engine.circuitSizes), adds
 * the point to the circuit it keeps and sends it to every panel, then a `reply`. A newer request
 * cancels one still running, whose reply then carries an error.
 */
import type { CircuitSizePoint } from './circuit-sizes.js';

// ---------------------------------------------------------------- host → webview

/** A size of the shown circuit, measured: a point of its faithfulness curve with its circuit (indices into the report's allEdges). */
export interface CircuitSizeMessage {
  type: 'circuitSize';
  point: CircuitSizePoint;
}

// ---------------------------------------------------------------- webview → host

/** Measure the shown circuit at `edges` top edges (1 to its number of scored edges); answered by `circuitSize`, then `reply`. */
export interface MeasureCircuitSizeMessage {
  type: 'measureCircuitSize';
  requestId: number;
  edges: number;
}
