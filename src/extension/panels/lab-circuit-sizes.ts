/**
 * The Lab host's side of the circuit view's size slider: measures the shown circuit at a size its
 * faithfulness curve has not measured, from the discovery's own edge scores (nothing is scored
 * again), and hands the point to the controller, which adds it to the circuit it keeps (so the
 * snapshot a reloaded panel gets and the JSON export hold it) and sends it to every panel. Each
 * request is answered with one `reply`; a point measured for a circuit that has since been
 * replaced is dropped.
 */
import type { MetricRequest } from '../../protocol/engine.js';
import type { CircuitReport } from '../../protocol/circuit.js';
import type { CircuitSizePoint, CircuitSizesRequest, CircuitSizesResult } from '../../protocol/circuit-sizes.js';
import type { MeasureCircuitSizeMessage } from '../../protocol/circuit-messages.js';
import type { ReplyMessage } from '../../protocol/webview-messages.js';
import { errorText } from './lab-attribution.js';

/** What the slider needs from the extension; without it the slider walks only the measured points. */
export interface CircuitSizesHost {
  /** Circuits of other sizes from a circuit found on model `modelId` (a newer call may cancel an older one). */
  circuitSizes?(request: CircuitSizesRequest, modelId: string): Promise<CircuitSizesResult>;
}

/** The named metric a report was measured with, for measuring it again the same way (none: the default metric). */
export function reportMetric(report: CircuitReport): MetricRequest | undefined {
  const { clean } = report.metric;
  return clean.name === 'prob_diff_greater_than' && clean.startYear !== undefined ? { kind: 'greater-than', startYear: clean.startYear } : undefined;
}

/** The engine request for `sizes` of the report's circuit: its prompts as run, target, contrast, metric and every edge's score. */
export function circuitSizesRequest(report: CircuitReport, sizes: number[]): CircuitSizesRequest {
  const metric = reportMetric(report);
  return {
    cleanIds: report.cleanIds,
    corruptIds: report.corruptIds,
    target: { id: report.targetId },
    ...(report.contrastId !== null ? { contrast: { id: report.contrastId } } : {}),
    ...(metric ? { metric } : {}),
    scores: Float64Array.from(report.allEdges, (e) => e.score),
    sizes,
  };
}

export class LabCircuitSizes {
  constructor(
    private readonly host: CircuitSizesHost,
    /** The circuit the panels show now. */
    private readonly current: () => CircuitReport | null,
    /** Adds a measured point to the shown circuit and sends it to every panel. */
    private readonly add: (point: CircuitSizePoint) => void,
  ) {}

  /** Measures what the message asks for; `reply` gets exactly one answer. */
  async measure(message: MeasureCircuitSizeMessage, reply: (message: ReplyMessage) => void): Promise<void> {
    const { requestId } = message;
    const fail = (error: string): void => reply({ type: 'reply', requestId, ok: false, error });
    const report = this.current();
    if (!report) return fail('There is no circuit to size; run Find Circuit first.');
    if (!this.host.circuitSizes) return fail('Measuring other circuit sizes is not available here.');
    if (message.edges > report.allEdges.length) return fail(`This circuit has ${report.allEdges.length} scored edges; ${message.edges} were asked for.`);
    try {
      const result = await this.host.circuitSizes(circuitSizesRequest(report, [message.edges]), report.model.id);
      const point = result.points[0];
      if (!point) throw new Error('The engine measured no circuit.');
      // The same discovery (a measured point keeps its scored edges), not one found since.
      if (this.current()?.allEdges === report.allEdges) this.add(point);
      reply({ type: 'reply', requestId, ok: true });
    } catch (error) {
      fail(errorText(error));
    }
  }
}
