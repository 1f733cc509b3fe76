/**
 * Where the rows of a packed run sit (see PackedRunRequest in types.ts), and what each row may attend
 * to. Prompt i's positions are rows i·P … i·P + P − 1 of every call; each branch's positions
 * from … P − 1 are appended at its layer, branches in the order they join. Rows never move, so a
 * call's resid_post is the next call's resid_pre with the next layer's branches appended.
 */
import { EngineError } from '../errors.js';
import { MASKED } from '../onnx/gpt2-graphs.js';
import type { PackedBranch, PackedRunRequest } from './types.js';

export interface PackedLayout {
  /** Prompt length. */
  P: number;
  nPrompts: number;
  /** The branches in join order (by layer, then as requested), with their first row and their index in the request. */
  branches: Array<{ branch: PackedBranch; index: number; row: number }>;
  /**
   * 'prefix' when every branch is one row (its prompt's last position): every row then attends to
   * the prompts' rows and to itself only, and the mask is [rows, prompt rows + 1] (see the block
   * graph's prefix_rows). 'dense' otherwise: a [rows, rows] mask over every row of the call.
   */
  mode: 'prefix' | 'dense';
}

/** Validates a packed request against the model's shape and lays out its rows. */
export function packedLayout(request: PackedRunRequest, shape: { nLayers: number; nHeads: number }): PackedLayout {
  const { prompts } = request;
  if (prompts.length === 0) throw new EngineError('BAD_ARGUMENT', 'A packed run needs at least one prompt.');
  const P = prompts[0]!.length;
  if (prompts.some((ids) => ids.length !== P))
    throw new EngineError('BAD_ARGUMENT', `The prompts of a packed run must have one length; they have ${prompts.map((ids) => ids.length).join(', ')} tokens.`);
  const order = request.branches.map((branch, index) => ({ branch, index }));
  for (const { branch, index } of order) {
    const where = `Branch ${index}`;
    const promptIndex = (i: number): boolean => Number.isInteger(i) && i >= 0 && i < prompts.length;
    if (!promptIndex(branch.prompt) || !promptIndex(branch.zFrom.prompt))
      throw new EngineError('BAD_ARGUMENT', `${where} names a prompt outside 0..${prompts.length - 1}.`);
    if (!Number.isInteger(branch.from) || branch.from < 0 || branch.from >= P)
      throw new EngineError('BAD_ARGUMENT', `${where} starts at position ${branch.from}, outside the prompt (0..${P - 1}).`);
    if (!Number.isInteger(branch.layer) || branch.layer < 0 || branch.layer >= shape.nLayers)
      throw new EngineError('BAD_ARGUMENT', `${where} joins at layer ${branch.layer}, outside 0..${shape.nLayers - 1}.`);
    for (const h of branch.zFrom.heads) {
      if (!Number.isInteger(h) || h < 0 || h >= shape.nHeads)
        throw new EngineError('BAD_ARGUMENT', `${where}: head ${h} does not exist (0..${shape.nHeads - 1}).`);
    }
    for (const p of branch.zFrom.positions ?? []) {
      if (!Number.isInteger(p) || p < branch.from || p >= P)
        throw new EngineError('BAD_ARGUMENT', `${where}: patch position ${p} is outside the positions it runs (${branch.from}..${P - 1}).`);
    }
  }
  order.sort((a, b) => a.branch.layer - b.branch.layer || a.index - b.index);
  let row = prompts.length * P;
  const branches = order.map(({ branch, index }) => {
    const placed = { branch, index, row };
    row += P - branch.from;
    return placed;
  });
  return { P, nPrompts: prompts.length, branches, mode: branches.every(({ branch }) => branch.from === P - 1) ? 'prefix' : 'dense' };
}

/** The branches in the call of `layer` (joined at or below it). */
export function branchesAt(layout: PackedLayout, layer: number): PackedLayout['branches'] {
  return layout.branches.filter((b) => b.branch.layer <= layer);
}

/** Rows in the call of `layer`. */
export function rowsAt(layout: PackedLayout, layer: number): number {
  return branchesAt(layout, layer).reduce((n, b) => n + layout.P - b.branch.from, layout.nPrompts * layout.P);
}

/**
 * The additive attention mask of `layer`'s call: a prompt's position sees its prompt's positions up
 * to itself; a branch's position sees its prompt's positions before `from` and its own positions up
 * to itself. With a `window` (the layer's local attention), a position at p sees only those at
 * p - window + 1 and after. Everything else is MASKED, whose exp() is exactly 0. Dense: [rows, rows].
 * Prefix: [rows, K + 1] over the K prompt rows and then each row's own key (a prompt row finds its
 * own key among the K, so its last column is masked).
 */
export function packedMask(layout: PackedLayout, layer: number, window: number | null = null): { mask: Float32Array; dims: [number, number] } {
  const { P } = layout;
  const N = rowsAt(layout, layer);
  const K = layout.nPrompts * P;
  const width = layout.mode === 'prefix' ? K + 1 : N;
  const mask = new Float32Array(N * width).fill(MASKED);
  const open = (row: number, from: number, to: number): void => void mask.fill(0, row * width + from, row * width + to);
  /** The first position that position p sees. */
  const firstSeen = (p: number): number => (window === null ? 0 : Math.max(0, p - window + 1));
  for (let i = 0; i < layout.nPrompts; i++) {
    for (let p = 0; p < P; p++) open(i * P + p, i * P + firstSeen(p), i * P + p + 1);
  }
  for (const { branch, row } of branchesAt(layout, layer)) {
    for (let k = 0; k < P - branch.from; k++) {
      const first = firstSeen(branch.from + k);
      if (first < branch.from) open(row + k, branch.prompt * P + first, branch.prompt * P + branch.from);
      if (layout.mode === 'prefix') open(row + k, K, K + 1);
      else open(row + k, row + Math.max(0, first - branch.from), row + k + 1);
    }
  }
  return { mask, dims: [N, width] };
}

/**
 * The hook_z routing of `layer`'s call (block inputs z_route_from and z_route_to, [r, 3] each): for
 * the branches joining at this layer, each patched head at each patched position is a row
 * (0, row, head) that takes the values of row (0, source row, head), where the source row is prompt
 * `zFrom.prompt`'s at the same position. Empty lists when no branch joins here.
 */
export function packedRouting(layout: PackedLayout, layer: number): { from: BigInt64Array; to: BigInt64Array } {
  const { P } = layout;
  const from: bigint[] = [],
    to: bigint[] = [];
  for (const { branch, row } of layout.branches) {
    if (branch.layer !== layer) continue;
    const positions = branch.zFrom.positions ?? Array.from({ length: P - branch.from }, (_, k) => branch.from + k);
    // Distinct rows only: ScatterND leaves the order of duplicate indices open.
    for (const p of new Set(positions)) {
      for (const h of new Set(branch.zFrom.heads)) {
        from.push(0n, BigInt(branch.zFrom.prompt * P + p), BigInt(h));
        to.push(0n, BigInt(row + p - branch.from), BigInt(h));
      }
    }
  }
  return { from: BigInt64Array.from(from), to: BigInt64Array.from(to) };
}

/**
 * Each row's position in its prompt in `layer`'s call (the block input `positions`, for RoPE): a
 * prompt's rows are positions 0 … P − 1, a branch's rows its positions from … P − 1.
 */
export function packedPositions(layout: PackedLayout, layer: number): number[] {
  const { P } = layout;
  const positions = Array.from({ length: layout.nPrompts * P }, (_, r) => r % P);
  for (const { branch } of branchesAt(layout, layer)) for (let p = branch.from; p < P; p++) positions.push(p);
  return positions;
}

/** Bytes of logits and probabilities one final call of a packed run may hold (see packedScoreRows). */
const PACKED_SCORE_BYTES = 128 * 2 ** 20;

/** Rows a packed run scores per final call: their logits and softmax, [rows, vocab] each, within PACKED_SCORE_BYTES. */
export function packedScoreRows(dVocab: number): number {
  return Math.max(1, Math.floor(PACKED_SCORE_BYTES / (2 * 4 * dVocab)));
}
