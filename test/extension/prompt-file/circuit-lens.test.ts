/** The `@circuit` CodeLens ("Check circuit", then "✓ 84% (≥ 80%)" / "✗ 61% (≥ 80%)"), its request, and the model-shape diagnostic of its nodes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePromptFile, type PromptEntry } from '../../../src/engine/prompt-file/parser.js';
import { circuitCheckRequest } from '../../../src/engine/circuits/prompt-circuits.js';
import { CHECK_CIRCUIT_TITLE, circuitLens, circuitLensTitle } from '../../../src/extension/prompt-file/codelens-content.js';
import { circuitNodeDiagnostics } from '../../../src/extension/prompt-file/diagnostic-rules.js';
import type { CircuitCheckResult } from '../../../src/protocol/circuit-check.js';

const SOURCE = [
  '## IOI',
  'When Mary and John went to the store, John gave a drink to',
  '@target " Mary"',
  '@contrast " John"',
  '@corrupt "When Mary and John went to the store, Mary gave a drink to"',
  '@circuit L9H6 L9H9 L10H0 ≥ 80%',
  '@circuit L9H6 mlp3 >= 92.5%',
].join('\n');

function ioi(): PromptEntry {
  return parsePromptFile(SOURCE).prompts[0]!;
}

function result(faithfulness: number, threshold: number): CircuitCheckResult {
  return {
    nodes: ['L9H6', 'L9H9', 'L10H0'],
    threshold,
    faithfulness,
    passed: faithfulness >= threshold,
    edges: 312,
    totalEdges: 32_491,
    clean: 3.2,
    corrupt: -0.4,
    circuit: -0.4 + 3.6 * faithfulness,
    metric: 'logit_diff',
    targetId: 5335,
    contrastId: 1757,
    prependBos: true,
    elapsedMs: 40,
  };
}

test('the verdict title: ✓ or ✗, the measured share in whole percent and the threshold', () => {
  assert.equal(circuitLensTitle(result(0.8423, 0.8)), '✓ 84% (≥ 80%)');
  assert.equal(circuitLensTitle(result(0.61, 0.8)), '✗ 61% (≥ 80%)');
  assert.equal(circuitLensTitle(result(1.03, 0.925)), '✓ 103% (≥ 92.5%)');
  // Rounding must not contradict the verdict: 79.6% does not reach 80%, 80.0% does.
  assert.equal(circuitLensTitle(result(0.796, 0.8)), '✗ 79.6% (≥ 80%)');
  assert.equal(circuitLensTitle(result(0.8, 0.8)), '✓ 80% (≥ 80%)');
  assert.equal(circuitLensTitle(result(-0.05, 0.8)), '✗ -5% (≥ 80%)');
  assert.equal(circuitLensTitle({ faithfulness: NaN, threshold: 0.8, passed: false }), '✗ undefined (≥ 80%)');
});

test('the lens: "Check circuit" before a run, spinning while it runs, the verdict after, the failure when it could not run', () => {
  const prompt = ioi();
  const [first] = prompt.circuits;
  const before = circuitLens(prompt, first!, { modelName: 'GPT-2 small' });
  assert.equal(before?.title, CHECK_CIRCUIT_TITLE);
  assert.equal(before?.action, 'check-circuit');
  assert.match(before?.tooltip ?? '', /the circuit of L9H6 L9H9 L10H0 carries at least 80% of the clean − corrupted metric on GPT-2 small/);

  assert.match(circuitLens(prompt, first!, { running: true })?.title ?? '', /checking circuit/);

  const after = circuitLens(prompt, first!, { result: result(0.8423, 0.8), modelName: 'GPT-2 small' });
  assert.equal(after?.title, '✓ 84% (≥ 80%)');
  assert.equal(after?.action, 'check-circuit');
  assert.match(after?.tooltip ?? '', /\(312 of 32491 edges\) carries 84\.2% of the clean − corrupted metric on GPT-2 small/);
  assert.match(after?.tooltip ?? '', /logit_diff: clean 3\.200, corrupted -0\.400/);
  assert.equal(circuitLens(prompt, first!, { result: result(0.61, 0.8) })?.title, '✗ 61% (≥ 80%)');

  const failed = circuitLens(prompt, first!, { error: 'The circuit names L12H0, which this model does not have.' });
  assert.match(failed?.title ?? '', /circuit check failed/);
  assert.match(failed?.tooltip ?? '', /L12H0/);

  // A prompt with problems gets no circuit lens (its header shows the problems).
  const broken = parsePromptFile('## a\nx\n@circuit L1H0 ≥ 80%\n').prompts[0]!;
  assert.equal(circuitLens(broken, broken.circuits[0]!, {}), null);
});

test('the request of a hypothesis carries the prompt’s texts, tokens, metric, nodes and threshold', () => {
  const prompt = ioi();
  assert.deepEqual(circuitCheckRequest(prompt, prompt.circuits[1]!), {
    clean: 'When Mary and John went to the store, John gave a drink to',
    corrupt: 'When Mary and John went to the store, Mary gave a drink to',
    target: { text: ' Mary' },
    contrast: { text: ' John' },
    nodes: ['L9H6', 'mlp3'],
    threshold: 0.925,
  });
  const gt = parsePromptFile('## GT\nfrom 1732 to 17\n@corrupt "from 1701 to 17"\n@metric greater-than 32\n@circuit L0H0 ≥ 50%\n').prompts[0]!;
  assert.deepEqual(circuitCheckRequest(gt, gt.circuits[0]!, false), {
    clean: 'from 1732 to 17',
    corrupt: 'from 1701 to 17',
    prependBos: false,
    metric: { kind: 'greater-than', startYear: 32 },
    nodes: ['L0H0'],
    threshold: 0.5,
  });
});

test('diagnostics: nodes the loaded model lacks are errors on their own range', () => {
  const prompt = ioi();
  const shape = { nLayers: 12, nHeads: 12, modelName: 'GPT-2 small' };
  assert.deepEqual(circuitNodeDiagnostics(prompt, shape), []);
  const small = circuitNodeDiagnostics(prompt, { nLayers: 10, nHeads: 8, modelName: 'tiny' });
  assert.deepEqual(
    small.map((d) => [d.code, d.range.start.line, d.range.start.character, d.message]),
    [
      ['circuit-node-missing', 5, 14, 'tiny has no head L9H9: it has layers 0–9 with heads 0–7 each.'],
      ['circuit-node-missing', 5, 19, 'tiny has no head L10H0: it has layers 0–9 with heads 0–7 each.'],
    ],
  );
  const mlp = parsePromptFile('## a\nx\n@corrupt "y"\n@circuit L0H0 mlp2 ≥ 50%\n').prompts[0]!;
  assert.deepEqual(
    circuitNodeDiagnostics(mlp, { nLayers: 2, nHeads: 4, modelName: 'organism' }).map((d) => d.message),
    ['organism has no MLP mlp2: it has layers 0–1 with heads 0–3 each.'],
  );
});
