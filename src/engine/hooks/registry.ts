/**
 * The hook points, one entry each: the single owner of hook names (as TransformerLens's
 * `utilities.get_act_name` is). The graph builder's outputs, the runtime's fetches and patch feeds,
 * the patch sites, the protocol's hook types and the webview validator are all read from this
 * table, so an architecture's extra hook point (Llama's `attn.hook_rot_q`, say) is one entry.
 *
 * Pure data: imported by the engine, the extension host and (types only) the protocol.
 */

/**
 * A dimension of a hook's tensor, batch dropped, as TransformerLens names them (`head` for its
 * `head_index`); a number is a fixed size.
 */
export type HookDim = 'pos' | 'query_pos' | 'key_pos' | 'head' | 'kv_head' | 'd_head' | 'd_model' | 'd_mlp' | 'd_vocab' | 1;

/**
 * The graph families whose models have a hook point: `gpt2` (LayerNorm, learned positions; also
 * the organism), `llama` (RMSNorm, RoPE, grouped-query attention, gated MLP: Llama, Mistral, Qwen2,
 * Qwen3), `gemma` (Llama's hook points plus the norms after attention and the MLP, `ln1_post` and
 * `ln2_post`: Gemma 2, Gemma 3), and GPT-NeoX's (LayerNorm, partial RoPE, GELU MLP: Pythia) as `neox` with the parallel
 * residual (no resid_mid, as TransformerLens's parallel_attn_mlp) or `neox_sequential` without it.
 */
export type HookArchitecture = 'gpt2' | 'llama' | 'gemma' | 'neox' | 'neox_sequential';

/**
 * Where a hook's values come from. `embedding`: gathered in JavaScript before the first block.
 * `block` / `final`: a graph input (resid_pre is the block's input) or output of that graph, by name.
 */
export type HookSource = { graph: 'embedding' } | { graph: 'block'; input: string } | { graph: 'block' | 'final'; output: string };

/**
 * How an intervention replaces a hook's values. `stream`: the block's input rows, replaced in
 * JavaScript before the block runs. `rows`: rows written in the graph by ScatterND from an index
 * input ((variant, query row) or (variant, query row, head) per row) and a values input.
 */
export type HookPatch = { by: 'stream' } | { by: 'rows'; index: string; values: string; perHead: boolean };

export interface HookPointSpec {
  /** TransformerLens name; for per-layer hooks the part after `blocks.L.`. */
  readonly name: string;
  /** `get_act_name`'s short name. */
  readonly alias: string;
  readonly perLayer: boolean;
  readonly shape: readonly HookDim[];
  readonly source: HookSource;
  readonly patch?: HookPatch;
  /** The graph families that have it; absent: every family. */
  readonly archs?: readonly HookArchitecture[];
}

/** Every hook point of every graph family, in the order the forward produces them. */
export const HOOK_POINTS = [
  { name: 'hook_embed', alias: 'embed', perLayer: false, shape: ['pos', 'd_model'], source: { graph: 'embedding' } },
  { name: 'hook_pos_embed', alias: 'pos_embed', perLayer: false, shape: ['pos', 'd_model'], source: { graph: 'embedding' }, archs: ['gpt2'] },
  {
    name: 'hook_resid_pre',
    alias: 'resid_pre',
    perLayer: true,
    shape: ['pos', 'd_model'],
    source: { graph: 'block', input: 'resid_pre' },
    patch: { by: 'stream' },
  },
  // Rotary families: norm scales, queries/keys/values before and after RoPE (Llama's keys and values per kv head).
  // Every family: hook_q/k/v (before any q/k norm and RoPE) are patchable per head, as path patching's receivers.
  {
    name: 'ln1.hook_scale',
    alias: 'ln1_scale',
    perLayer: true,
    shape: ['pos', 1],
    source: { graph: 'block', output: 'ln1_scale' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  {
    name: 'attn.hook_q',
    alias: 'q',
    perLayer: true,
    shape: ['pos', 'head', 'd_head'],
    source: { graph: 'block', output: 'hook_q' },
    archs: ['gpt2', 'llama', 'gemma', 'neox', 'neox_sequential'],
    patch: { by: 'rows', index: 'q_index', values: 'q_patch', perHead: true },
  },
  {
    name: 'attn.hook_k',
    alias: 'k',
    perLayer: true,
    shape: ['pos', 'kv_head', 'd_head'],
    source: { graph: 'block', output: 'hook_k' },
    archs: ['gpt2', 'llama', 'gemma', 'neox', 'neox_sequential'],
    patch: { by: 'rows', index: 'k_index', values: 'k_patch', perHead: true },
  },
  {
    name: 'attn.hook_v',
    alias: 'v',
    perLayer: true,
    shape: ['pos', 'kv_head', 'd_head'],
    source: { graph: 'block', output: 'hook_v' },
    archs: ['gpt2', 'llama', 'gemma', 'neox', 'neox_sequential'],
    patch: { by: 'rows', index: 'v_index', values: 'v_patch', perHead: true },
  },
  {
    name: 'attn.hook_rot_q',
    alias: 'rot_q',
    perLayer: true,
    shape: ['pos', 'head', 'd_head'],
    source: { graph: 'block', output: 'rot_q' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  {
    name: 'attn.hook_rot_k',
    alias: 'rot_k',
    perLayer: true,
    shape: ['pos', 'kv_head', 'd_head'],
    source: { graph: 'block', output: 'rot_k' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  { name: 'attn.hook_pattern', alias: 'pattern', perLayer: true, shape: ['head', 'query_pos', 'key_pos'], source: { graph: 'block', output: 'pattern' } },
  {
    name: 'attn.hook_z',
    alias: 'z',
    perLayer: true,
    shape: ['pos', 'head', 'd_head'],
    source: { graph: 'block', output: 'z' },
    patch: { by: 'rows', index: 'z_index', values: 'z_patch', perHead: true },
  },
  // Gemma: RMSNorm of the attention output (and of the MLP's below) before it joins the residual stream; hook_attn_out is after it.
  {
    name: 'ln1_post.hook_scale',
    alias: 'ln1_post_scale',
    perLayer: true,
    shape: ['pos', 1],
    source: { graph: 'block', output: 'ln1_post_scale' },
    archs: ['gemma'],
  },
  {
    name: 'hook_attn_out',
    alias: 'attn_out',
    perLayer: true,
    shape: ['pos', 'd_model'],
    source: { graph: 'block', output: 'attn_out' },
    patch: { by: 'rows', index: 'attn_index', values: 'attn_patch', perHead: false },
  },
  // Not with a parallel residual: attention and MLP both read resid_pre.
  {
    name: 'hook_resid_mid',
    alias: 'resid_mid',
    perLayer: true,
    shape: ['pos', 'd_model'],
    source: { graph: 'block', output: 'resid_mid' },
    archs: ['gpt2', 'llama', 'gemma', 'neox_sequential'],
  },
  // Llama: the gated MLP's gate (pre-activation), up projection and silu(gate) * up; NeoX: pre-activation, gelu of it.
  {
    name: 'ln2.hook_scale',
    alias: 'ln2_scale',
    perLayer: true,
    shape: ['pos', 1],
    source: { graph: 'block', output: 'ln2_scale' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  {
    name: 'mlp.hook_pre',
    alias: 'pre',
    perLayer: true,
    shape: ['pos', 'd_mlp'],
    source: { graph: 'block', output: 'mlp_pre' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  {
    name: 'mlp.hook_pre_linear',
    alias: 'pre_linear',
    perLayer: true,
    shape: ['pos', 'd_mlp'],
    source: { graph: 'block', output: 'mlp_pre_linear' },
    archs: ['llama', 'gemma'],
  },
  {
    name: 'mlp.hook_post',
    alias: 'post',
    perLayer: true,
    shape: ['pos', 'd_mlp'],
    source: { graph: 'block', output: 'mlp_post' },
    archs: ['llama', 'gemma', 'neox', 'neox_sequential'],
  },
  {
    name: 'ln2_post.hook_scale',
    alias: 'ln2_post_scale',
    perLayer: true,
    shape: ['pos', 1],
    source: { graph: 'block', output: 'ln2_post_scale' },
    archs: ['gemma'],
  },
  {
    name: 'hook_mlp_out',
    alias: 'mlp_out',
    perLayer: true,
    shape: ['pos', 'd_model'],
    source: { graph: 'block', output: 'mlp_out' },
    patch: { by: 'rows', index: 'mlp_index', values: 'mlp_patch', perHead: false },
  },
  { name: 'hook_resid_post', alias: 'resid_post', perLayer: true, shape: ['pos', 'd_model'], source: { graph: 'block', output: 'resid_post' } },
  { name: 'ln_final.hook_scale', alias: 'scale', perLayer: false, shape: ['pos', 1], source: { graph: 'final', output: 'scale' } },
  { name: 'logits', alias: 'logits', perLayer: false, shape: ['pos', 'd_vocab'], source: { graph: 'final', output: 'logits' } },
] as const satisfies readonly HookPointSpec[];

type Entry = (typeof HOOK_POINTS)[number];
type PatchableEntry = Extract<Entry, { patch: HookPatch }>;

/** A per-layer hook's name within its block, e.g. `attn.hook_z`. */
export type LayerHook = Extract<Entry, { perLayer: true }>['name'];
/** A hook point outside the blocks, e.g. `ln_final.hook_scale`. */
export type GlobalHook = Extract<Entry, { perLayer: false }>['name'];
/** A full hook name, e.g. `blocks.9.attn.hook_z`. */
export type HookName = GlobalHook | `blocks.${number}.${LayerHook}`;
export type HookAlias = Entry['alias'];
/** The short names of the hooks an intervention can replace (`z`, `resid_pre`, ...). */
export type PatchableAlias = PatchableEntry['alias'];
/** Per-layer hooks replaced as the block's input rows (`hook_resid_pre`). */
export type StreamPatchedHook = Extract<Entry, { patch: { by: 'stream' } }>['name'];
/** Per-layer hooks replaced in the graph, a d_model row per (variant, position). */
export type RowPatchedHook = Extract<Entry, { patch: { by: 'rows'; perHead: false } }>['name'];
/** Per-layer hooks replaced in the graph per head. */
export type HeadPatchedHook = Extract<Entry, { patch: { by: 'rows'; perHead: true } }>['name'];

/** A table entry, typed by what the rest of the engine reads. */
export interface HookPoint extends HookPointSpec {
  readonly name: LayerHook | GlobalHook;
  readonly alias: HookAlias;
}
export interface LayerHookPoint extends HookPoint {
  readonly name: LayerHook;
  readonly perLayer: true;
}
/** A hook point replaced in its block graph by rows. */
export interface RowPatchPoint extends LayerHookPoint {
  readonly patch: Extract<HookPatch, { by: 'rows' }>;
}

export const HOOK_POINT_LIST: readonly HookPoint[] = HOOK_POINTS;

/** Whether models of graph family `arch` have hook point `point`. */
export function hasHook(point: Pick<HookPointSpec, 'archs'>, arch: HookArchitecture): boolean {
  return point.archs === undefined || point.archs.includes(arch);
}
export const LAYER_HOOK_POINTS: readonly LayerHookPoint[] = HOOK_POINT_LIST.filter((p): p is LayerHookPoint => p.perLayer);
export const LAYER_HOOKS: readonly LayerHook[] = LAYER_HOOK_POINTS.map((p) => p.name);
export const GLOBAL_HOOKS: readonly GlobalHook[] = HOOK_POINT_LIST.filter((p) => !p.perLayer).map((p) => p.name as GlobalHook);
/** The hooks an intervention can replace, in forward order. */
export const PATCHABLE_ALIASES: readonly PatchableAlias[] = HOOK_POINT_LIST.filter((p) => p.patch).map((p) => p.alias as PatchableAlias);
/** Hooks replaced in the block graph, with their index and values inputs. */
export const ROW_PATCH_POINTS: readonly RowPatchPoint[] = LAYER_HOOK_POINTS.filter((p): p is RowPatchPoint => p.patch?.by === 'rows');

const BY_NAME = new Map<string, HookPoint>(HOOK_POINT_LIST.map((p) => [p.name, p]));
const BY_ALIAS = new Map<string, HookPoint>(HOOK_POINT_LIST.map((p) => [p.alias, p]));

export function hookPoint(name: LayerHook | GlobalHook): HookPoint {
  return BY_NAME.get(name)!;
}

export function hookPointByAlias(alias: string): HookPoint | undefined {
  return BY_ALIAS.get(alias);
}

/** The graph outputs of `graph` that are hook points of family `arch`, in forward order. */
export function hookOutputs(graph: 'block' | 'final', arch: HookArchitecture = 'gpt2'): string[] {
  return HOOK_POINT_LIST.flatMap((p) => ('output' in p.source && p.source.graph === graph && hasHook(p, arch) ? [p.source.output] : []));
}

/** The graph output a per-layer hook is fetched from, or null when it is the block's input. */
export function blockOutputOf(point: LayerHookPoint): string | null {
  return 'output' in point.source ? point.source.output : null;
}
