import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportBytes, labJson } from '../../../src/extension/panels/lab-export-data.js';
import { analysisFromJson, patchSweepFromJson, type AnalysisResultJson } from '../../../src/protocol/json.js';
import { syntheticPatch, syntheticResult } from '../../mocks/synthetic-result.js';
import { syntheticCircuit } from '../../mocks/synthetic-circuit.js';
import { circuitExport, type CircuitExport } from '../../../src/extension/export/circuit-export.js';

test('the Lab JSON is the Export Analysis shape and reads back to the same result', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 3, nTokens: 4 });
  const json = JSON.parse(labJson('lab', r, null)) as AnalysisResultJson;
  assert.deepEqual(json.attention.shape, [2, 3, 4, 4]);
  const back = analysisFromJson(json);
  assert.deepEqual(Array.from(back.attention), Array.from(r.attention));
  assert.deepEqual(Array.from(back.trace.headBySource), Array.from(r.trace.headBySource));
  assert.equal(back.prompt, r.prompt);
});

test('the patching view exports the sweep; nothing to export is an error with a hint', () => {
  const p = syntheticPatch('resid', 2, 3, 4);
  assert.deepEqual(patchSweepFromJson(JSON.parse(labJson('patching', null, p))), p);
  assert.throws(() => labJson('patching', syntheticResult(), null), /run one from the patch form/);
  assert.throws(() => labJson('trace', null, p), /run Analyze first/);
});

test('export bytes: PNG and SVG as sent, JSON from the host copy', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
  assert.equal(exportBytes({ type: 'export', requestId: 1, view: 'heatmap', format: 'png', data: png }, null, null), png);
  assert.equal(new TextDecoder().decode(exportBytes({ type: 'export', requestId: 1, view: 'flow', format: 'svg', data: '<svg/>' }, null, null)), '<svg/>');
  const r = syntheticResult({ nLayers: 1, nHeads: 1, nTokens: 2 });
  assert.equal(new TextDecoder().decode(exportBytes({ type: 'export', requestId: 1, view: 'lab', format: 'json' }, r, null)), labJson('lab', r, null));
  assert.throws(() => exportBytes({ type: 'export', requestId: 1, view: 'heatmap', format: 'png' }, r, null), /no image/);
});

test('the circuit view exports the circuit: model, prompts (text, ids, tokens), target, scored edges, faithfulness, curve with its circuits', () => {
  const report = syntheticCircuit({ size: 4 });
  const json = JSON.parse(labJson('circuit', null, null, report)) as CircuitExport;
  assert.equal(json.format, 'circuit-trace/circuit');
  assert.equal(json.version, 1);
  assert.deepEqual(json.model, { id: 'organism', displayName: 'Model organism', nLayers: 2, nHeads: 4, nKvHeads: 4, parallelResidual: false });
  assert.deepEqual(json.prompts.clean, { text: report.cleanText, ids: report.cleanIds, tokens: report.cleanTokens.map((t) => t.text) });
  assert.deepEqual(json.prompts.corrupt.ids, report.corruptIds);
  assert.deepEqual(json.target, { id: 7, text: ' sat' });
  assert.deepEqual(json.contrast, { id: 9, text: ' ran' });
  assert.equal(json.method, 'eap-ig');
  assert.equal(json.steps, 5);
  assert.equal(json.faithfulness, report.faithfulness);
  assert.deepEqual(json.metric, report.metric);
  assert.deepEqual(json.edges, report.edges);
  assert.deepEqual(json.nodes, report.nodes);
  assert.equal(json.allEdges.length, report.allEdges.length);
  assert.deepEqual(json.curve[1], { requested: 2, edges: 2, faithfulness: report.curve![1]!.faithfulness, circuit: ['L1H2 → logits', 'L0H1 → L1H2.k'] });
  const bytes = exportBytes({ type: 'export', requestId: 1, view: 'circuit', format: 'json' }, syntheticResult(), null, report);
  assert.equal(new TextDecoder().decode(bytes), labJson('circuit', null, null, report), 'the circuit, not the analysis');
  assert.throws(() => labJson('circuit', syntheticResult(), null, null), /run Find Circuit first/);
  const ids = circuitExport({ ...report, cleanText: null });
  assert.equal(ids.prompts.clean.text, null, 'prompts given as ids have no text');
});
