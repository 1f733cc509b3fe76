/**
 * A `@circuit` hypothesis checked on the organism, whose induction circuit is known (the previous-
 * token head L0H0 feeds the induction head L1H0's key, L1H0 writes the answer): its faithfulness
 * against the float64 edge-patching reference (test/helpers/reference-edge-patching.ts) reading the
 * organism's own checkpoint, with the circuit's membership written here from the directive's
 * definition (docs/prompt-format.md), the threshold verdict, and the errors a hypothesis can meet.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCircuit, hypothesisCircuit, resolveCircuitNodes } from '../../../src/engine/circuits/circuit-check.js';
import { loadCircuitModel, type CircuitModel } from '../../../src/engine/circuits/circuit-model.js';
import { EdgeGraph } from '../../../src/engine/circuits/edge-graph.js';
import { EngineError } from '../../../src/engine/errors.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import type { CircuitCheckRequest } from '../../../src/protocol/circuit-check.js';
import { referenceEdgePatchedMetric, type KeepEdge } from '../../helpers/reference-edge-patching.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const BOS = 50256;
const CONFIG = { n_layer: 2, n_head: 4, n_embd: 256, layer_norm_epsilon: 1e-5 };
// Induction: at the second " crane" the induction head finds the token after the first one.
const CLEAN = ' apple river crane music tiger apple river crane';
// The first " crane" replaced: no earlier token is preceded by " crane", so nothing to copy.
const CORRUPT = ' apple river stone music tiger apple river crane';
const TARGET = ' music';

/** The directive's definition, from node names alone: writers embed / named heads / MLPs, readers named heads' inputs / MLPs / logits. */
function keepOf(nodes: readonly string[]): KeepEdge {
  const mlpsNamed = nodes.some((n) => n.startsWith('mlp'));
  const mlpIn = (name: string): boolean => !mlpsNamed || nodes.includes(name);
  return (from, to) => {
    const writer = from === 'embed' || (from.startsWith('mlp') ? mlpIn(from) : nodes.includes(from));
    const reader = to === 'logits' || (to.startsWith('mlp') ? mlpIn(to) : nodes.includes(to.slice(0, to.indexOf('.'))));
    return writer && reader;
  };
}

describe('@circuit on the organism', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-circuit-check-'));
  let model: CircuitModel;
  let tensors: Map<string, ReferenceWeightTensor>;
  let clean: number[];
  let corrupt: number[];
  let targetId: number;

  before(async () => {
    model = await loadCircuitModel({ kind: 'organism', dir: join(root, 'organism') }, { device: 'cpu', maxTokens: 1024, offline: true });
    const file = readSafetensors(readFileSync(join(root, 'organism', 'model.safetensors')), 'model.safetensors');
    tensors = new Map([...file.tensors.keys()].map((name) => [name, { shape: [...file.get(name).shape], data: file.get(name).float32() }]));
    clean = [BOS, ...model.tokenizer.encode(CLEAN).ids];
    corrupt = [BOS, ...model.tokenizer.encode(CORRUPT).ids];
    const target = model.tokenizer.encode(TARGET).ids;
    assert.equal(target.length, 1);
    targetId = target[0]!;
  });
  after(async () => {
    await model?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  const request = (nodes: string[], threshold: number): CircuitCheckRequest => ({ clean: CLEAN, corrupt: CORRUPT, target: { text: TARGET }, nodes, threshold });

  /** The reference's faithfulness of the circuit of `nodes` (the log-probability of the target, as without @contrast). */
  function referenceFaithfulness(nodes: readonly string[]): number {
    const metric = { targetId, contrastId: null };
    const m = (keep: KeepEdge): number => referenceEdgePatchedMetric(tensors, CONFIG, clean, corrupt, keep, metric);
    const full = m(() => true);
    const none = m(() => false);
    return (m(keepOf(nodes)) - none) / (full - none);
  }

  test('the induction circuit’s faithfulness is the reference’s, and the threshold decides', async () => {
    const nodes = ['L0H0', 'L1H0'];
    const expected = referenceFaithfulness(nodes);
    const result = await checkCircuit(model.runner, model.tokenizer, model.patcher, request(nodes, 0.8));
    assert.ok(result.clean - result.corrupt > 1, `the corrupted prompt must break induction (clean ${result.clean}, corrupt ${result.corrupt})`);
    assert.ok(Math.abs(result.faithfulness - expected) < 1e-4, `${result.faithfulness} vs reference ${expected}`);
    assert.ok(expected > 0.9, `the induction heads carry the metric: ${expected}`);
    assert.equal(result.metric, 'log_prob');
    assert.equal(result.targetId, targetId);
    assert.equal(result.prependBos, true);
    assert.deepEqual(result.nodes, nodes);
    assert.equal(result.edges, 23, 'embed → 9 readers, L0H0 → 6, mlp0 → 5, L1H0 → 2, mlp1 → 1');
    assert.equal(result.passed, true);
    // The induction head alone has no key to match (its key reads the previous token L0H0 writes): nothing is recovered.
    const alone = await checkCircuit(model.runner, model.tokenizer, model.patcher, request(['L1H0'], 0.8));
    const aloneExpected = referenceFaithfulness(['L1H0']);
    assert.ok(Math.abs(alone.faithfulness - aloneExpected) < 1e-4, `${alone.faithfulness} vs reference ${aloneExpected}`);
    assert.equal(alone.passed, false);
    // The verdict is faithfulness ≥ threshold, at the measured value itself too.
    for (const threshold of [0.5, 1]) {
      const verdict = await checkCircuit(model.runner, model.tokenizer, model.patcher, request(nodes, threshold));
      assert.equal(verdict.passed, verdict.faithfulness >= threshold, `threshold ${threshold}, faithfulness ${verdict.faithfulness}`);
      assert.equal(verdict.threshold, threshold);
    }
  });

  test('other hypotheses: without the previous-token head, with the duplicate-token head, with one named MLP', async () => {
    for (const nodes of [['L1H0'], ['L0H0', 'L0H1', 'L1H0'], ['L0H0', 'L1H0', 'mlp1']]) {
      const expected = referenceFaithfulness(nodes);
      const result = await checkCircuit(model.runner, model.tokenizer, model.patcher, request(nodes, 0.5));
      assert.ok(Math.abs(result.faithfulness - expected) < 1e-4, `${nodes.join(' ')}: ${result.faithfulness} vs reference ${expected}`);
    }
  });

  test('without @target the clean prompt’s top prediction is the target; a contrast gives the logit difference', async () => {
    const withoutTarget = await checkCircuit(model.runner, model.tokenizer, model.patcher, { clean: CLEAN, corrupt: CORRUPT, nodes: ['L1H0'], threshold: 0 });
    assert.equal(withoutTarget.targetId, targetId, 'the organism predicts the induction answer');
    const contrastId = model.tokenizer.encode(' stone').ids[0]!;
    const result = await checkCircuit(model.runner, model.tokenizer, model.patcher, { ...request(['L0H0', 'L1H0'], 0.5), contrast: { id: contrastId } });
    assert.equal(result.metric, 'logit_diff');
    const m = (keep: KeepEdge): number => referenceEdgePatchedMetric(tensors, CONFIG, clean, corrupt, keep, { targetId, contrastId });
    const expected = (m(keepOf(['L0H0', 'L1H0'])) - m(() => false)) / (m(() => true) - m(() => false));
    assert.ok(Math.abs(result.faithfulness - expected) < 1e-4, `${result.faithfulness} vs reference ${expected}`);
  });

  test('bad hypotheses are typed errors naming the problem', async () => {
    const fails = async (req: CircuitCheckRequest, message: RegExp): Promise<void> => {
      await assert.rejects(
        checkCircuit(model.runner, model.tokenizer, model.patcher, req),
        (e: unknown) => e instanceof EngineError && message.test(e.message),
      );
    };
    await fails(request(['L2H0'], 0.8), /names L2H0, which this model does not have: it has layers 0\.\.1 with heads 0\.\.3/);
    await fails(request(['L1H4'], 0.8), /names L1H4/);
    await fails(request(['mlp7'], 0.8), /names mlp7/);
    await fails(request(['foo'], 0.8), /"foo" is not a circuit node/);
    await fails(request([], 0.8), /at least one node/);
    await fails(request(['L1H0'], 1.5), /between 0% and 100%/);
    await fails({ ...request(['L1H0'], 0.8), corrupt: ' apple river stone' }, /same length/);
  });
});

describe('the circuit of named nodes', () => {
  test('counts of edges on a 2-layer, 4-head graph, and the GQA key/value heads of the named query heads', () => {
    const graph = new EdgeGraph({ nLayers: 2, nHeads: 4 });
    const count = (nodes: string[]): number => hypothesisCircuit(graph, resolveCircuitNodes(graph, nodes)).reduce((n, x) => n + x, 0);
    // L0H0, L1H0, all MLPs. Writers: embed, L0H0, mlp0, L1H0, mlp1. Readers: L0H0.qkv, mlp0, L1H0.qkv, mlp1, logits.
    // embed → all 9 readers; L0H0 → mlp0, L1H0.qkv, mlp1, logits (6); mlp0 → L1H0.qkv, mlp1, logits (5); L1H0 → mlp1, logits (2); mlp1 → logits (1).
    assert.equal(count(['L0H0', 'L1H0']), 9 + 6 + 5 + 2 + 1);
    // Naming mlp1 drops mlp0 as writer and reader: embed → L0H0.qkv, L1H0.qkv, mlp1, logits (8); L0H0 → L1H0.qkv, mlp1, logits (5); L1H0 → 2; mlp1 → 1.
    assert.equal(count(['L0H0', 'L1H0', 'mlp1']), 8 + 5 + 2 + 1);
    const every = new Uint8Array(graph.edges.length).fill(1);
    const allNodes = [0, 1].flatMap((l) => [0, 1, 2, 3].map((h) => `L${l}H${h}`));
    assert.deepEqual(hypothesisCircuit(graph, resolveCircuitNodes(graph, allNodes)), every);

    const gqa = new EdgeGraph({ nLayers: 2, nHeads: 4, nKvHeads: 2 });
    const circuit = hypothesisCircuit(gqa, resolveCircuitNodes(gqa, ['L0H0', 'L1H3']));
    const readers = new Set(gqa.edges.filter((_, i) => circuit[i]).map((e) => gqa.edgeName(e).to));
    assert.deepEqual([...readers].sort(), ['L0H0.q', 'L0KV0.k', 'L0KV0.v', 'L1H3.q', 'L1KV1.k', 'L1KV1.v', 'logits', 'mlp0', 'mlp1']);
  });
});
