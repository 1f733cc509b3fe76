/**
 * An attribution graph on the organism with its hand-built transcoder (features that are its known
 * mechanisms; src/engine/organism/organism-transcoder.ts), where the graph's shape is known: on an
 * induction prompt the top logit is the induction target, and with attention frozen its strongest
 * token source is the target's earlier occurrence (copied by the induction head L1H0's OV circuit);
 * the monitor features, whose decoder rows are zero, carry no influence and are pruned.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAttributionGraph, type AttributionGraphRun } from '../../../../src/engine/features/attribution-graph/attribution-graph.js';
import { loadDictionary } from '../../../../src/engine/features/load-dictionary.js';
import type { Dictionary } from '../../../../src/engine/features/dictionary.js';
import { generateOrganism } from '../../../../src/engine/organism/organism-folder.js';
import { writeOrganismTranscoderFolder } from '../../../../src/engine/organism/transcoder-folder.js';
import { InstrumentedModel } from '../../../../src/engine/runtime/instrumented-model.js';
import { loadTokenizer } from '../../../../src/engine/tokenizer/tokenizer.js';

const BOS = 50256;
const root = mkdtempSync(join(tmpdir(), 'ct-organism-graph-'));
let runner: InstrumentedModel;
let dictionary: Dictionary;
let run: AttributionGraphRun;
let ids: number[];
let target: number;

before(async () => {
  const { model, tokenizerJson } = generateOrganism();
  const tokenizer = loadTokenizer(tokenizerJson);
  runner = await InstrumentedModel.create(model, { device: 'cpu' });
  await writeOrganismTranscoderFolder(join(root, 'transcoder'));
  dictionary = await loadDictionary(join(root, 'transcoder'), runner.config);
  ids = [BOS, ...tokenizer.encode('The cat sat on the mat. The cat sat on the').ids];
  target = tokenizer.encode(' mat').ids[0]!;
  run = await buildAttributionGraph(runner, dictionary, ids, (id) => tokenizer.tokenText(id));
});
after(async () => {
  dictionary?.dispose();
  await runner?.dispose();
  rmSync(root, { recursive: true, force: true });
});

test('the induction target is the top logit, and its strongest token source is its earlier occurrence', () => {
  assert.equal(run.replacement.logits.tokens[0], target);
  const { matrix, nodes } = run.adjacency;
  const P = ids.length;
  const tokenStart = run.layout.features + run.layout.errors;
  const row = (nodes - run.layout.logits) * nodes;
  let best = -1;
  for (let p = 0; p < P; p++) if (best < 0 || matrix[row + tokenStart + p]! > matrix[row + tokenStart + best]!) best = p;
  assert.equal(
    ids[best],
    target,
    `strongest token source at position ${best} (${ids[best]}), effects ${Array.from({ length: P }, (_, p) => matrix[row + tokenStart + p]!.toFixed(2)).join(' ')}`,
  );
  assert.equal(best, ids.indexOf(target));
  assert.ok(
    run.result.nodes.some((n) => n.id === `E_${target}_${best}`),
    'the earlier occurrence survives pruning',
  );
});

test('monitor features (zero decoder rows) have no outgoing effect and are pruned', () => {
  const { matrix, nodes, selectedFeatures } = run.adjacency;
  const { features } = run.replacement;
  let monitors = 0;
  selectedFeatures.forEach((f, j) => {
    const l = features.layer[f]!;
    const row = dictionary.layers[l]!.decoder(0).rows([features.feature[f]!]);
    if (row.some((x) => x !== 0)) return;
    monitors++;
    for (let t = 0; t < nodes; t++) assert.equal(matrix[t * nodes + j], 0, `monitor node ${j} → ${t}`);
    assert.ok(!run.result.nodes.some((n) => n.kind === 'feature' && n.layer === l && n.index === features.feature[f] && n.position === features.position[f]));
  });
  assert.ok(monitors > 0, 'the prompt fires some monitor features');
});
