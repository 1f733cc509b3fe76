import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geluNew, referenceGpt2Forward, type ReferenceGpt2Config, type ReferenceTensor, type ReferenceWeightTensor } from './reference-gpt2.js';

type Checkpoint = Map<string, ReferenceWeightTensor>;

/** A [rows, cols] float32 tensor with the listed entries set (all others 0). */
function sparse(shape: number[], entries: [number[], number][] = []): ReferenceWeightTensor {
  const data = new Float32Array(shape.reduce((n, s) => n * s, 1));
  for (const [index, value] of entries) {
    const flat = index.reduce((acc, i, axis) => acc * (shape[axis] as number) + i, 0);
    data[flat] = value;
  }
  return { shape, data };
}

function filled(shape: number[], values: number[]): ReferenceWeightTensor {
  return { shape, data: Float32Array.from(values) };
}

function get(cache: Map<string, ReferenceTensor>, name: string): ReferenceTensor {
  const t = cache.get(name);
  assert.ok(t, `missing hook ${name}`);
  return t;
}

/** Row `r` of a [rows, cols] activation as a plain array. */
function rowOf(t: ReferenceTensor, r: number): number[] {
  const cols = t.data.length / (t.shape[0] as number);
  return Array.from(t.data.subarray(r * cols, (r + 1) * cols));
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/**
 * A one-layer, d_model 4, two-head model whose every activation can be worked out by hand.
 *
 * Tokens: A = [1, 1, -1, -1], B = [-1, 1, 1, -1], C = [1, -1, 1, -1] (mean 0, variance 1, so with
 * eps = 0 and unit LayerNorm weights ln_1 is the identity). Position embeddings are zero.
 * Head 0: q = k = 0 (uniform causal attention), v = (x1 + 0.5, x2).
 * Head 1: q = sqrt(2)·ln 3 · x0, k = x0, so a score is ±ln 3 (exp: 3 or 1/3); v = (x0, x3).
 * c_proj is the cyclic shift y = [f3, f0, f1, f2] (+ b_O = [0, 0, 0, 0.25]); a transposed reading
 * would give [f1, f2, f3, f0] instead.
 * MLP: ln_2 has weight 0 and bias [1, -1, 0, 0], so its output is that constant; c_fc picks those
 * two entries into hidden units 0 and 1, and c_proj sends gelu(1) to output 2 and gelu(-1) to 3.
 */
const HAND_CONFIG: ReferenceGpt2Config = { n_layer: 1, n_head: 2, n_embd: 4, layer_norm_epsilon: 0 };
const A = 0;
const B = 1;

function handCheckpoint(): Checkpoint {
  const c = Math.SQRT2 * Math.log(3);
  return new Map([
    ['wte.weight', filled([3, 4], [1, 1, -1, -1, -1, 1, 1, -1, 1, -1, 1, -1])],
    ['wpe.weight', sparse([4, 4])],
    ['h.0.ln_1.weight', filled([4], [1, 1, 1, 1])],
    ['h.0.ln_1.bias', sparse([4])],
    // Columns: Q 0..3, K 4..7, V 8..11; head h owns columns 2h, 2h+1 of each block.
    [
      'h.0.attn.c_attn.weight',
      sparse(
        [4, 12],
        [
          [[0, 2], c],
          [[0, 6], 1],
          [[1, 8], 1],
          [[2, 9], 1],
          [[0, 10], 1],
          [[3, 11], 1],
        ],
      ),
    ],
    ['h.0.attn.c_attn.bias', sparse([12], [[[8], 0.5]])],
    [
      'h.0.attn.c_proj.weight',
      sparse(
        [4, 4],
        [
          [[3, 0], 1],
          [[0, 1], 1],
          [[1, 2], 1],
          [[2, 3], 1],
        ],
      ),
    ],
    ['h.0.attn.c_proj.bias', filled([4], [0, 0, 0, 0.25])],
    ['h.0.ln_2.weight', sparse([4])],
    ['h.0.ln_2.bias', filled([4], [1, -1, 0, 0])],
    [
      'h.0.mlp.c_fc.weight',
      sparse(
        [4, 16],
        [
          [[0, 0], 1],
          [[1, 1], 1],
        ],
      ),
    ],
    ['h.0.mlp.c_fc.bias', sparse([16])],
    [
      'h.0.mlp.c_proj.weight',
      sparse(
        [16, 4],
        [
          [[0, 2], 1],
          [[1, 3], 1],
        ],
      ),
    ],
    ['h.0.mlp.c_proj.bias', filled([4], [0.5, 0, 0, 0])],
    ['ln_f.weight', filled([4], [1, 1, 1, 1])],
    ['ln_f.bias', sparse([4])],
  ]);
}

// Known values of the tanh-approximated GELU.
const GELU_1 = 0.8411919906082768;
const GELU_MINUS_1 = -0.15880800939172324;

test('geluNew matches known values of the tanh approximation', () => {
  assert.equal(geluNew(0), 0);
  assert.ok(Math.abs(geluNew(1) - GELU_1) < 1e-12);
  assert.ok(Math.abs(geluNew(-1) - GELU_MINUS_1) < 1e-12);
  assert.ok(Math.abs(geluNew(10) - 10) < 1e-9);
});

test('hand-built one-layer model: attention patterns, z, attn_out, mlp_out and residuals', () => {
  const cache = referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [A, B, A]);
  const tol = 1e-6; // the weights are float32, e.g. sqrt(2)·ln 3

  const pattern = get(cache, 'blocks.0.attn.hook_pattern'); // [head, query, key]
  assert.deepEqual(pattern.shape, [2, 3, 3]);
  assertClose(
    pattern.data,
    [
      1,
      0,
      0,
      1 / 2,
      1 / 2,
      0,
      1 / 3,
      1 / 3,
      1 / 3, // head 0: uniform over the causal prefix
      1,
      0,
      0,
      1 / 10,
      9 / 10,
      0,
      9 / 19,
      1 / 19,
      9 / 19, // head 1: weight 3 to same-sign keys, 1/3 to others
    ],
    tol,
    'pattern',
  );

  const z = get(cache, 'blocks.0.attn.hook_z'); // [pos, head, d_head]
  assert.deepEqual(z.shape, [3, 2, 2]);
  assertClose(z.data, [1.5, -1, 1, -1, 1.5, 0, -0.8, -1, 1.5, -1 / 3, 17 / 19, -1], tol, 'z');

  const attnOut = get(cache, 'blocks.0.hook_attn_out');
  assertClose(attnOut.data, [-1, 1.5, -1, 1.25, -1, 1.5, 0, -0.55, -1, 1.5, -1 / 3, 17 / 19 + 0.25], tol, 'attn_out');

  const residMid = get(cache, 'blocks.0.hook_resid_mid');
  assertClose(residMid.data, [0, 2.5, -2, 0.25, -2, 2.5, 1, -1.55, 0, 2.5, -4 / 3, 17 / 19 - 0.75], tol, 'resid_mid');

  const mlpOut = get(cache, 'blocks.0.hook_mlp_out');
  for (let p = 0; p < 3; p++) assertClose(rowOf(mlpOut, p), [0.5, 0, GELU_1, GELU_MINUS_1], tol, `mlp_out row ${p}`);

  const residPost = get(cache, 'blocks.0.hook_resid_post');
  assertClose(rowOf(residPost, 1), [-1.5, 2.5, 1 + GELU_1, -1.55 + GELU_MINUS_1], tol, 'resid_post row 1');
});

test('embeddings: hook_embed rows are wte rows, hook_pos_embed rows are wpe rows, resid_pre is their sum', () => {
  const checkpoint = handCheckpoint();
  const wpe = filled([4, 4], [0.1, 0.2, 0.3, 0.4, -1, -2, -3, -4, 5, 6, 7, 8, 0, 0, 0, 9]);
  checkpoint.set('wpe.weight', wpe);
  const cache = referenceGpt2Forward(checkpoint, HAND_CONFIG, [2, 0, 1]);
  const f = (xs: number[]): number[] => Array.from(Float32Array.from(xs));
  assertClose(get(cache, 'hook_embed').data, [1, -1, 1, -1, 1, 1, -1, -1, -1, 1, 1, -1], 0, 'hook_embed');
  assertClose(get(cache, 'hook_pos_embed').data, f([0.1, 0.2, 0.3, 0.4, -1, -2, -3, -4, 5, 6, 7, 8]), 0, 'hook_pos_embed');
  assertClose(get(cache, 'blocks.0.hook_resid_pre').data, f([1.1, -0.8, 1.3, -0.6, 0, -1, -4, -5, 4, 7, 8, 7]), 1e-6, 'resid_pre');
});

test('zero-layer model: the final LayerNorm centres, divides by sqrt(var + eps) and the unembedding is tied to wte', () => {
  const eps = 1e-5;
  const checkpoint: Checkpoint = new Map([
    ['wte.weight', filled([2, 4], [2, 0, 0, -2, 0, 1, 0, 1])],
    ['wpe.weight', filled([1, 4], [1, 1, 1, 1])],
    ['ln_f.weight', filled([4], [1, 1, 1, 0.5])],
    ['ln_f.bias', filled([4], [0, 0, 0, 1])],
  ]);
  const cache = referenceGpt2Forward(checkpoint, { n_layer: 0, n_head: 1, n_embd: 4, layer_norm_epsilon: eps }, [0]);
  // resid = [3, 1, 1, -1]: mean 1, centred [2, 0, 0, -2], biased variance 8 / 4 = 2.
  const s = Math.sqrt(2 + eps);
  assertClose(get(cache, 'ln_final.hook_scale').data, [s], 1e-12, 'hook_scale');
  assert.deepEqual(get(cache, 'ln_final.hook_scale').shape, [1, 1]);
  // normed = [2/s, 0, 0, 1 - 1/s]; logits = normed . wte rows.
  assertClose(get(cache, 'logits').data, [6 / s - 2, 1 - 1 / s], 1e-12, 'logits');
  assert.deepEqual(get(cache, 'logits').shape, [1, 2]);
});

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32), so the test data is reproducible. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

const RANDOM_CONFIG: ReferenceGpt2Config = { n_layer: 2, n_head: 2, n_embd: 8, layer_norm_epsilon: 1e-5 };

/** A random two-layer checkpoint in the real GPT-2 naming (with the `transformer.` prefix and the extra buffers). */
function randomCheckpoint(seed = 7): Checkpoint {
  const next = random(seed);
  const d = RANDOM_CONFIG.n_embd;
  const t = (shape: number[], scale = 1, offset = 0): ReferenceWeightTensor => {
    const data = new Float32Array(shape.reduce((n, s) => n * s, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * next();
    return { shape, data };
  };
  const m: Checkpoint = new Map([
    ['transformer.wte.weight', t([11, d])],
    ['transformer.wpe.weight', t([6, d], 0.3)],
    ['transformer.ln_f.weight', t([d], 0.2, 1)],
    ['transformer.ln_f.bias', t([d], 0.1)],
    ['lm_head.weight', t([11, d])], // ignored: GPT-2 ties the unembedding to wte
  ]);
  for (let l = 0; l < RANDOM_CONFIG.n_layer; l++) {
    const p = `transformer.h.${l}.`;
    m.set(`${p}ln_1.weight`, t([d], 0.2, 1));
    m.set(`${p}ln_1.bias`, t([d], 0.1));
    m.set(`${p}attn.bias`, sparse([1, 1, 6, 6])); // the causal-mask buffer real checkpoints carry
    m.set(`${p}attn.c_attn.weight`, t([d, 3 * d], 0.8));
    m.set(`${p}attn.c_attn.bias`, t([3 * d], 0.1));
    m.set(`${p}attn.c_proj.weight`, t([d, d], 0.5));
    m.set(`${p}attn.c_proj.bias`, t([d], 0.1));
    m.set(`${p}ln_2.weight`, t([d], 0.2, 1));
    m.set(`${p}ln_2.bias`, t([d], 0.1));
    m.set(`${p}mlp.c_fc.weight`, t([d, 4 * d], 0.5));
    m.set(`${p}mlp.c_fc.bias`, t([4 * d], 0.1));
    m.set(`${p}mlp.c_proj.weight`, t([4 * d, d], 0.3));
    m.set(`${p}mlp.c_proj.bias`, t([d], 0.1));
  }
  return m;
}

const RANDOM_IDS = [3, 10, 0, 7, 3];

test('every hook point is produced, in TransformerLens forward order, with its shape', () => {
  const seen: string[] = [];
  const cache = referenceGpt2Forward(randomCheckpoint(), RANDOM_CONFIG, RANDOM_IDS, { intervene: (name) => void seen.push(name) });
  const layerHooks = [
    'hook_resid_pre',
    'attn.hook_q',
    'attn.hook_k',
    'attn.hook_v',
    'attn.hook_pattern',
    'attn.hook_z',
    'hook_attn_out',
    'hook_resid_mid',
    'hook_mlp_out',
    'hook_resid_post',
  ];
  const expected = ['hook_embed', 'hook_pos_embed', ...[0, 1].flatMap((l) => layerHooks.map((h) => `blocks.${l}.${h}`)), 'ln_final.hook_scale', 'logits'];
  assert.deepEqual(seen, expected);
  assert.deepEqual([...cache.keys()], expected);
  const shapes: Record<string, number[]> = {
    hook_embed: [5, 8],
    'blocks.1.attn.hook_pattern': [2, 5, 5],
    'blocks.1.attn.hook_z': [5, 2, 4],
    'blocks.0.attn.hook_k': [5, 2, 4],
    'blocks.0.hook_mlp_out': [5, 8],
    'ln_final.hook_scale': [5, 1],
    logits: [5, 11],
  };
  for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(get(cache, name).shape, shape, name);
});

test('causal mask is exact zeros and every pattern row sums to 1', () => {
  const cache = referenceGpt2Forward(randomCheckpoint(), RANDOM_CONFIG, RANDOM_IDS);
  for (let l = 0; l < 2; l++) {
    const pattern = get(cache, `blocks.${l}.attn.hook_pattern`);
    const [nHeads, nQ, nK] = pattern.shape as [number, number, number];
    for (let h = 0; h < nHeads; h++) {
      for (let q = 0; q < nQ; q++) {
        let sum = 0;
        for (let k = 0; k < nK; k++) {
          const v = pattern.data[(h * nQ + q) * nK + k] as number;
          if (k > q) assert.equal(v, 0, `layer ${l} head ${h}: query ${q} attends to future key ${k}`);
          else assert.ok(v > 0);
          sum += v;
        }
        assert.ok(Math.abs(sum - 1) < 1e-12, `row sum ${sum}`);
      }
    }
  }
});

test('residual identities: resid_pre = embed + pos, resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out', () => {
  const cache = referenceGpt2Forward(randomCheckpoint(), RANDOM_CONFIG, RANDOM_IDS);
  const sum = (a: string, b: string): number[] => Array.from(get(cache, a).data, (x, i) => x + (get(cache, b).data[i] as number));
  assertClose(get(cache, 'blocks.0.hook_resid_pre').data, sum('hook_embed', 'hook_pos_embed'), 1e-12, 'resid_pre 0');
  for (let l = 0; l < 2; l++) {
    const b = `blocks.${l}.`;
    assertClose(get(cache, `${b}hook_resid_mid`).data, sum(`${b}hook_resid_pre`, `${b}hook_attn_out`), 1e-12, `resid_mid ${l}`);
    assertClose(get(cache, `${b}hook_resid_post`).data, sum(`${b}hook_resid_mid`, `${b}hook_mlp_out`), 1e-12, `resid_post ${l}`);
  }
  assertClose(get(cache, 'blocks.1.hook_resid_pre').data, get(cache, 'blocks.0.hook_resid_post').data, 0, 'resid_pre 1 = resid_post 0');
});

test('attn_out is hook_z ([pos, head, d_head] flattened to [pos, d]) through c_proj', () => {
  const checkpoint = randomCheckpoint();
  const cache = referenceGpt2Forward(checkpoint, RANDOM_CONFIG, RANDOM_IDS);
  const w = checkpoint.get('transformer.h.1.attn.c_proj.weight')?.data as Float32Array; // [d, d]
  const b = checkpoint.get('transformer.h.1.attn.c_proj.bias')?.data as Float32Array;
  const z = get(cache, 'blocks.1.attn.hook_z').data;
  const d = 8;
  const expected: number[] = [];
  for (let p = 0; p < RANDOM_IDS.length; p++) {
    for (let o = 0; o < d; o++) {
      let y = b[o] as number;
      for (let i = 0; i < d; i++) y += (z[p * d + i] as number) * (w[i * d + o] as number);
      expected.push(y);
    }
  }
  assertClose(get(cache, 'blocks.1.hook_attn_out').data, expected, 1e-12, 'attn_out');
});

test('ln_final.hook_scale is sqrt(biased variance + eps) of the final residual, and logits use it with ln_f and wte', () => {
  const checkpoint = randomCheckpoint();
  const cache = referenceGpt2Forward(checkpoint, RANDOM_CONFIG, RANDOM_IDS);
  const resid = get(cache, 'blocks.1.hook_resid_post');
  const scale = get(cache, 'ln_final.hook_scale');
  const logits = get(cache, 'logits');
  const wte = checkpoint.get('transformer.wte.weight')?.data as Float32Array;
  const lnW = checkpoint.get('transformer.ln_f.weight')?.data as Float32Array;
  const lnB = checkpoint.get('transformer.ln_f.bias')?.data as Float32Array;
  for (let p = 0; p < RANDOM_IDS.length; p++) {
    const x = rowOf(resid, p);
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    const s = Math.sqrt(variance + 1e-5);
    assert.ok(Math.abs((scale.data[p] as number) - s) < 1e-12);
    const normed = x.map((v, i) => ((v - mean) / s) * (lnW[i] as number) + (lnB[i] as number));
    const expected = Array.from({ length: 11 }, (_, t) => normed.reduce((a, v, i) => a + v * (wte[t * 8 + i] as number), 0));
    assertClose(rowOf(logits, p), expected, 1e-10, `logits row ${p}`);
  }
});

test('tensor names are accepted with or without the transformer. prefix', () => {
  const prefixed = randomCheckpoint();
  const bare: Checkpoint = new Map([...prefixed].map(([k, v]) => [k.replace(/^transformer\./, ''), v]));
  const a = get(referenceGpt2Forward(prefixed, RANDOM_CONFIG, RANDOM_IDS), 'logits').data;
  const b = get(referenceGpt2Forward(bare, RANDOM_CONFIG, RANDOM_IDS), 'logits').data;
  assert.deepEqual(a, b);
});

test('intervention: zeroing one head of hook_z at one position changes attn_out there and everything downstream, nothing else', () => {
  const clean = referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [A, B, A]);
  const patched = referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [A, B, A], {
    intervene: (name, t) => {
      if (name !== 'blocks.0.attn.hook_z') return;
      const data = Float64Array.from(t.data);
      // [pos, head, d_head]: position 2, head 1
      data[(2 * 2 + 1) * 2 + 0] = 0;
      data[(2 * 2 + 1) * 2 + 1] = 0;
      return { shape: t.shape, data };
    },
  });
  // Head 1's output feeds f2 and f3, which the cyclic c_proj sends to outputs 3 and 0.
  assertClose(rowOf(get(patched, 'blocks.0.hook_attn_out'), 2), [0, 1.5, -1 / 3, 0.25], 1e-6, 'patched attn_out row 2');
  assertClose(rowOf(get(patched, 'blocks.0.hook_resid_mid'), 2), [1, 2.5, -4 / 3, -0.75], 1e-6, 'patched resid_mid row 2');
  for (const p of [0, 1]) {
    assert.deepEqual(rowOf(get(patched, 'blocks.0.hook_attn_out'), p), rowOf(get(clean, 'blocks.0.hook_attn_out'), p));
    assert.deepEqual(rowOf(get(patched, 'logits'), p), rowOf(get(clean, 'logits'), p));
  }
  assert.notDeepEqual(rowOf(get(patched, 'logits'), 2), rowOf(get(clean, 'logits'), 2));
  // The cache holds the value the pass actually used.
  assert.equal(get(patched, 'blocks.0.attn.hook_z').data[11], 0);
  // The pattern upstream of the patch is untouched.
  assert.deepEqual(get(patched, 'blocks.0.attn.hook_pattern').data, get(clean, 'blocks.0.attn.hook_pattern').data);
});

test('intervention: replacing hook_resid_pre changes the attention computed from it', () => {
  const replacement = Float64Array.from([1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1]); // A, A, A
  const patched = referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [A, B, A], {
    intervene: (name, t) => (name === 'blocks.0.hook_resid_pre' ? { shape: t.shape, data: replacement } : undefined),
  });
  // Head 1 now sees three same-sign keys: uniform causal attention.
  const pattern = get(patched, 'blocks.0.attn.hook_pattern');
  assertClose(pattern.data.subarray(9, 18), [1, 0, 0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3], 1e-6, 'head 1 pattern');
  // The embeddings are recorded as computed; resid_pre as replaced.
  assertClose(get(patched, 'hook_embed').data, [1, 1, -1, -1, -1, 1, 1, -1, 1, 1, -1, -1], 0, 'hook_embed');
  assert.deepEqual(get(patched, 'blocks.0.hook_resid_pre').data, replacement);
});

test('intervention: in-place edits and replacements of hook_attn_out and hook_mlp_out reach the residual stream', () => {
  const patched = referenceGpt2Forward(randomCheckpoint(), RANDOM_CONFIG, RANDOM_IDS, {
    intervene: (name, t) => {
      if (name === 'blocks.0.hook_attn_out') t.data.fill(0); // in place
      if (name === 'blocks.1.hook_mlp_out') return { shape: t.shape, data: new Float64Array(t.data.length).fill(2) };
    },
  });
  assert.deepEqual(get(patched, 'blocks.0.hook_resid_mid').data, get(patched, 'blocks.0.hook_resid_pre').data);
  const mid = get(patched, 'blocks.1.hook_resid_mid').data;
  assertClose(
    get(patched, 'blocks.1.hook_resid_post').data,
    Array.from(mid, (v) => v + 2),
    1e-12,
    'resid_post',
  );
  const clean = referenceGpt2Forward(randomCheckpoint(), RANDOM_CONFIG, RANDOM_IDS);
  assert.notDeepEqual(get(patched, 'logits').data, get(clean, 'logits').data);
});

test('bad input fails with a message naming the problem', () => {
  const missing = handCheckpoint();
  missing.delete('h.0.attn.c_proj.bias');
  assert.throws(() => referenceGpt2Forward(missing, HAND_CONFIG, [0]), /no tensor h\.0\.attn\.c_proj\.bias/);
  const wrongShape = handCheckpoint();
  wrongShape.set('h.0.attn.c_attn.weight', sparse([12, 4]));
  assert.throws(() => referenceGpt2Forward(wrongShape, HAND_CONFIG, [0]), /c_attn\.weight has shape \[12, 4\], expected \[4, 12\]/);
  assert.throws(() => referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [3]), /token id 3/);
  assert.throws(() => referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [0, 0, 0, 0, 0]), /exceed the context of 4/);
  assert.throws(() => referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, []), /no tokens/);
  assert.throws(
    () =>
      referenceGpt2Forward(handCheckpoint(), HAND_CONFIG, [0], {
        intervene: (n) => (n === 'blocks.0.attn.hook_z' ? { shape: [1, 4], data: new Float64Array(4) } : undefined),
      }),
    /replacement for blocks\.0\.attn\.hook_z has shape \[1, 4\], expected \[1, 2, 2\]/,
  );
});
