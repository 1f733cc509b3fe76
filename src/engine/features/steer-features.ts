/**
 * Feature ablation and steering with the real model: attention, norms and everything downstream are
 * recomputed. An edit sets a feature's activation (act := v), scales it (act × s) or adds to it
 * (act + v) at chosen positions; each hook the feature's layer writes then changes by
 * (new − old) · W_dec[feature] / c (c the layer's input normalisation factor at the position, 1
 * without normalisation), the reconstruction's own change, so the dictionary's error term stays.
 *
 * Edits compose across layers. A replacement patch of a hook must hold everything earlier edits
 * changed there, and an edited feature's old activation is the one in the steered run. So the
 * points where edited layers read (their input hooks) and write (the patch sites of their output
 * hooks) are visited in forward order: each run goes up to the next write point only (an
 * intervention with endLayer), with every earlier write already patched, and reads what the points
 * up to it need; the write point's patch is its value in that run plus the edits' changes. A run
 * starts at the layer of the latest patch, from the previous run's residual stream there (the blocks
 * below it are unchanged). A last run, batched with the unedited prompt, gives both runs' logits.
 *
 * Output hooks are patched where the runtime can replace them: hook_resid_pre, hook_attn_out and
 * hook_mlp_out as they are, hook_resid_mid through hook_attn_out (which resid_mid adds), and
 * hook_resid_post through the next layer's hook_resid_pre (through hook_mlp_out in the last layer).
 *
 * A dictionary trained on a centred model (center_writing_weights, dictionary-input.ts) reads and
 * writes the centred hooks; its decoder rows are added to the unprocessed stream as they are, as
 * TransformerLens's processed model adds them to its centred stream. The two streams differ by a
 * per-position constant vector, which every reader removes (LayerNorm centres, and the centred
 * dictionary inputs are re-centred), so the logits are the processed model's. A trained SAE's rows
 * are near mean-zero anyway; a row's mean would stay in TransformerLens's stream for a later
 * centred dictionary layer to read, but not here, where that layer re-centres its input.
 */
import { EngineError, throwIfCancelled } from '../errors.js';
import type { HookName } from '../hooks.js';
import { layerHook } from '../hooks/names.js';
import type { ModelConfig } from '../model/config.js';
import type { MatmulSessions } from '../runtime/matmul-session.js';
import type { ForwardRunner, StreamPatch } from '../runtime/types.js';
import { tensor, type Tensor } from '../tensor.js';
import type { AppliedFeatureEdit, FeatureEdit } from '../../protocol/features.js';
import { checkDictionaryFits, dictionaryLayerAt } from './dictionary-fit.js';
import { dictionaryHookSources, dictionaryInput, classifyDictionaryHook } from './dictionary-input.js';
import type { Dictionary, DictionaryLayer } from './dictionary.js';
import { encodeLayer } from './encode.js';
import { addDecoderRows, type FeatureWrite } from './reconstruction.js';

type PatchHook = StreamPatch['hook'];

/** Where a patch goes: a layer's patchable d_model hook. */
interface PatchSite {
  layer: number;
  hook: PatchHook;
}

/** A point of the forward: (layer, rank within the block); encodes before writes at the same point. */
type Order = [layer: number, rank: number];

/** Forward order of the d_model hooks within a block (the derived MLP inputs sit after resid_mid). */
const RANK: Record<string, number> = {
  hook_embed: -1,
  hook_pos_embed: -1,
  hook_resid_pre: 0,
  hook_attn_out: 1,
  hook_resid_mid: 2,
  'ln2.hook_normalized': 3,
  'mlp.hook_in': 3,
  hook_mlp_out: 4,
  hook_resid_post: 5,
};

function orderOf(hook: string): Order {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(hook);
  if (!m) return [0, RANK[hook] ?? -1];
  return [Number(m[1]), RANK[m[2]!]!];
}

const before = (a: Order, b: Order): number => a[0] - b[0] || a[1] - b[1];

/** The patch site through which a change of output hook `hook` enters the forward. */
function patchSite(hook: string, config: Pick<ModelConfig, 'nLayers'>): PatchSite {
  const m = /^blocks\.(\d+)\.(hook_resid_pre|hook_attn_out|hook_resid_mid|hook_mlp_out|hook_resid_post)$/.exec(hook);
  if (!m)
    throw new EngineError(
      'BAD_ARGUMENT',
      `Features that write ${hook} cannot be steered.`,
      'Steering patches hook_resid_pre/mid/post, hook_attn_out or hook_mlp_out of a layer.',
    );
  const layer = Number(m[1]);
  switch (m[2]) {
    case 'hook_resid_mid':
      return { layer, hook: 'hook_attn_out' };
    case 'hook_resid_post':
      return layer + 1 < config.nLayers ? { layer: layer + 1, hook: 'hook_resid_pre' } : { layer, hook: 'hook_mlp_out' };
    default:
      return { layer, hook: m[2] as PatchHook };
  }
}

const siteKey = (s: PatchSite): string => `${s.layer}/${s.hook}`;

function checkEdits(dictionary: Dictionary, edits: readonly FeatureEdit[], positions: number): void {
  for (const edit of edits) {
    const layer = dictionaryLayerAt(dictionary, edit.layer);
    if (!Number.isInteger(edit.feature) || edit.feature < 0 || edit.feature >= layer.dSae)
      throw new EngineError('BAD_ARGUMENT', `Feature ${edit.feature} is outside layer ${edit.layer}'s features 0..${layer.dSae - 1}.`);
    for (const p of edit.positions ?? [])
      if (!Number.isInteger(p) || p < 0 || p >= positions) throw new EngineError('BAD_ARGUMENT', `Position ${p} is outside the prompt's 0..${positions - 1}.`);
    const amount = edit.kind === 'scale' ? edit.factor : edit.value;
    if (!Number.isFinite(amount))
      throw new EngineError('BAD_ARGUMENT', `The ${edit.kind} edit of feature ${edit.feature} at layer ${edit.layer} needs a finite number.`);
  }
}

function editedActivation(edit: FeatureEdit, old: number): number {
  if (edit.kind === 'set') return edit.value;
  if (edit.kind === 'scale') return old * edit.factor;
  return old + edit.value;
}

type Point = { order: Order; kind: 'encode'; layer: DictionaryLayer } | { order: Order; kind: 'write'; site: PatchSite };

export interface SteeredRun {
  /** Every edit at every position, with the feature's activation in the steered run before and after it. */
  applied: AppliedFeatureEdit[];
  /** The patches that carry the edits (replacement values of the steered run). */
  patches: StreamPatch[];
  /** Logits at `position`, [vocab], of the unedited and the edited run. */
  before: Float32Array;
  after: Float32Array;
}

export async function steerFeatures(
  runner: Pick<ForwardRunner, 'config' | 'weights' | 'intervene'>,
  matmul: MatmulSessions,
  dictionary: Dictionary,
  ids: readonly number[],
  edits: readonly FeatureEdit[],
  options: { position?: number; signal?: AbortSignal } = {},
): Promise<SteeredRun> {
  const { config, weights } = runner;
  const P = ids.length;
  const D = config.dModel;
  checkDictionaryFits(dictionary, config);
  checkEdits(dictionary, edits, P);
  const position = options.position ?? P - 1;
  if (!Number.isInteger(position) || position < 0 || position >= P)
    throw new EngineError('BAD_ARGUMENT', `Position ${position} is outside the prompt's 0..${P - 1}.`);

  const editedLayers = dictionary.layers.filter((l) => edits.some((e) => e.layer === l.layer));
  const points: Point[] = [];
  const sites = new Map<string, PatchSite>();
  for (const layer of editedLayers) {
    const input = orderOf(layer.inputHook);
    points.push({ order: input, kind: 'encode', layer });
    for (const hook of layer.outputHooks) {
      const site = patchSite(hook, config);
      const order: Order = [site.layer, RANK[site.hook]!];
      if (before(order, input) < 0)
        throw new EngineError(
          'BAD_ARGUMENT',
          `Dictionary layer ${layer.layer} writes ${hook} before the hook it reads (${layer.inputHook}); it cannot be steered.`,
        );
      if (!sites.has(siteKey(site))) {
        sites.set(siteKey(site), site);
        points.push({ order, kind: 'write', site });
      }
    }
  }
  points.sort((a, b) => before(a.order, b.order) || (a.kind === b.kind ? 0 : a.kind === 'encode' ? -1 : 1));

  const patches = new Map<string, StreamPatch>();
  const deltas = new Map<string, { value: Float64Array; positions: Set<number> }>();
  const deltaAt = (site: PatchSite): { value: Float64Array; positions: Set<number> } => {
    let d = deltas.get(siteKey(site));
    if (!d) deltas.set(siteKey(site), (d = { value: new Float64Array(P * D), positions: new Set() }));
    return d;
  };
  const applied: AppliedFeatureEdit[] = [];
  // Where the next run starts: the layer of the latest patch, from that run's resid_pre there (the blocks below are unchanged).
  let start: { layer: number; resid: Tensor | null } = { layer: 0, resid: null };
  const startOf = (): { startLayer?: number; startResid?: Tensor } => (start.resid ? { startLayer: start.layer, startResid: start.resid } : {});

  for (let i = 0; i < points.length;) {
    throwIfCancelled(options.signal);
    let j = i;
    while (j < points.length - 1 && points[j]!.kind !== 'write') j++;
    const group = points.slice(i, j + 1);
    const hooks = new Set<HookName>();
    for (const p of group) {
      const names = p.kind === 'encode' ? dictionaryHookSources(p.layer.inputHook, config) : [layerHook(p.site.layer, p.site.hook)];
      for (const n of names) hooks.add(n);
    }
    const last = group[group.length - 1]!;
    if (last.kind === 'write') hooks.add(layerHook(last.site.layer, 'hook_resid_pre'));
    const endLayer = Math.max(...group.map((p) => (p.kind === 'encode' ? classifyDictionaryHook(p.layer.inputHook, config).layer : p.site.layer))) + 1;
    const [run] = await runner.intervene({
      ids,
      variants: [{ streamPatches: [...patches.values()], ...startOf() }],
      hooks: [...hooks],
      endLayer,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for (const point of group) {
      if (point.kind === 'encode') {
        const layer = point.layer;
        const x = dictionaryInput(layer.inputHook, run!.cache, config, weights, layer.processing);
        const { acts, inputScale } = await encodeLayer(matmul, layer, x);
        const writes: FeatureWrite[] = [];
        for (const edit of edits.filter((e) => e.layer === layer.layer)) {
          for (const p of edit.positions ?? Array.from({ length: P }, (_, k) => k)) {
            const old = acts[p * layer.dSae + edit.feature]!;
            const next = editedActivation(edit, old);
            // Later edits of the same feature and position see this one's value.
            acts[p * layer.dSae + edit.feature] = next;
            applied.push({ layer: layer.layer, feature: edit.feature, position: p, before: old, after: next });
            writes.push({ position: p, feature: edit.feature, weight: (next - old) / inputScale[p]! });
          }
        }
        layer.outputHooks.forEach((hook, o) => {
          const delta = deltaAt(patchSite(hook, config));
          addDecoderRows(delta.value, layer.decoder(o), writes);
          for (const w of writes) delta.positions.add(w.position);
        });
      } else {
        const { site } = point;
        const current = run!.cache.get(layerHook(site.layer, site.hook))!; // [pos, d_model]
        const delta = deltaAt(site);
        const value = Float32Array.from(current.data, (v, k) => v + delta.value[k]!);
        const patch: StreamPatch = { layer: site.layer, hook: site.hook, positions: [...delta.positions].sort((a, b) => a - b), value: tensor(value, [P, D]) };
        patches.set(siteKey(site), patch);
        // A resid_pre patch is the next run's start itself (the runtime applies it again there, to the same rows).
        start = { layer: site.layer, resid: site.hook === 'hook_resid_pre' ? patch.value : run!.cache.get(layerHook(site.layer, 'hook_resid_pre'))! };
      }
    }
    i = j + 1;
  }

  const [plain, steered] = await runner.intervene({
    ids,
    variants: [{}, { streamPatches: [...patches.values()], ...startOf() }],
    hooks: ['logits'],
    logitPositions: [position],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { applied, patches: [...patches.values()], before: plain!.cache.get('logits')!.data, after: steered!.cache.get('logits')!.data };
}
