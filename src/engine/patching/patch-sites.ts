/**
 * The components an experiment patches, one site per entry of the sweep, in the order the entries
 * are reported: layer-major, then head or position.
 */
import type { PatchKind } from '../../protocol/analysis.js';
import type { PatchRequest } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import { actName } from '../hooks/names.js';
import { PATCHABLE_ALIASES, type HeadPatchedHook, type HookName, type PatchableAlias, type RowPatchedHook, type StreamPatchedHook } from '../hooks/registry.js';

/** Which activation a site replaces, by the registry's alias: a head's hook_z, or a residual-stream / sublayer output. */
export type PatchHook = PatchableAlias;
export const PATCH_HOOKS: readonly PatchHook[] = PATCHABLE_ALIASES;

export interface PatchSite {
  hook: PatchHook;
  layer: number;
  /** For the per-head hooks (z, q, k, v) only. */
  head?: number;
  /** One position, or every position when omitted. */
  position?: number;
}

export interface SiteDims {
  nLayers: number;
  nHeads: number;
  /** Heads of hook_k / hook_v (grouped-query attention); default nHeads. */
  nKvHeads?: number;
  /** Prompt length in tokens. */
  nPos: number;
}

/** The per-head hooks (the head's output z, its inputs q, k, v), patched as ZPatch rows. */
export type HeadHook = 'z' | 'q' | 'k' | 'v';
const HEAD_HOOKS: readonly HeadHook[] = ['q', 'k', 'v', 'z'];
export function isHeadHook(hook: PatchHook): hook is HeadHook {
  return (HEAD_HOOKS as readonly string[]).includes(hook);
}

const PER_POSITION_HOOK: Partial<Record<PatchKind, PatchHook>> = { resid: 'resid_pre', attn: 'attn_out', mlp: 'mlp_out' };

export function patchSites(kind: PatchKind, dims: SiteDims, options: { position?: number; component?: PatchRequest['component'] } = {}): PatchSite[] {
  const { nLayers, nHeads, nPos } = dims;
  const sites: PatchSite[] = [];
  switch (kind) {
    case 'heads-last': {
      const position = options.position ?? nPos - 1;
      checkPosition(position, nPos, 'The patched position');
      for (let layer = 0; layer < nLayers; layer++) for (let head = 0; head < nHeads; head++) sites.push({ hook: 'z', layer, head, position });
      return sites;
    }
    case 'heads-all':
      for (let layer = 0; layer < nLayers; layer++) for (let head = 0; head < nHeads; head++) sites.push({ hook: 'z', layer, head });
      return sites;
    case 'resid':
    case 'attn':
    case 'mlp': {
      const hook = PER_POSITION_HOOK[kind]!;
      for (let layer = 0; layer < nLayers; layer++) for (let position = 0; position < nPos; position++) sites.push({ hook, layer, position });
      return sites;
    }
    case 'single':
      return [checkComponent(options.component, dims)];
    default:
      throw new EngineError('BAD_ARGUMENT', `Unknown patching kind "${String(kind)}".`, 'Use heads-last, heads-all, resid, attn, mlp or single.');
  }
}

function checkPosition(position: number, nPos: number, what: string): void {
  if (!Number.isInteger(position) || position < 0 || position >= nPos) {
    throw new EngineError('BAD_ARGUMENT', `${what} ${position} is outside the prompt (0..${nPos - 1}).`);
  }
}

function checkComponent(component: PatchRequest['component'], dims: SiteDims): PatchSite {
  if (!component)
    throw new EngineError(
      'BAD_ARGUMENT',
      'A single-component patch needs the component to patch.',
      'Give its hook (z, q, k, v, resid_pre, attn_out or mlp_out), layer, and head for z, q, k and v.',
    );
  const { hook, layer, head, position } = component;
  if (!PATCH_HOOKS.includes(hook)) throw new EngineError('BAD_ARGUMENT', `Unknown component hook "${String(hook)}".`, `Use one of ${PATCH_HOOKS.join(', ')}.`);
  if (!Number.isInteger(layer) || layer < 0 || layer >= dims.nLayers)
    throw new EngineError('BAD_ARGUMENT', `Layer ${layer} does not exist (0..${dims.nLayers - 1}).`);
  const site: PatchSite = { hook, layer };
  if (isHeadHook(hook)) {
    if (head === undefined) throw new EngineError('BAD_ARGUMENT', `Patching a head's ${hook} needs the head.`);
    const heads = hook === 'k' || hook === 'v' ? (dims.nKvHeads ?? dims.nHeads) : dims.nHeads;
    if (!Number.isInteger(head) || head < 0 || head >= heads)
      throw new EngineError('BAD_ARGUMENT', `Head ${head} of ${hook} does not exist (0..${heads - 1}).`);
    site.head = head;
  } else if (head !== undefined) {
    throw new EngineError('BAD_ARGUMENT', `A ${hook} patch takes no head; only ${HEAD_HOOKS.join(', ')} patches are per head.`);
  }
  if (position !== undefined) {
    checkPosition(position, dims.nPos, 'The patched position');
    site.position = position;
  }
  return site;
}

/** The TransformerLens hook name a site's value comes from, e.g. blocks.3.attn.hook_z. */
export function siteHookName(site: Pick<PatchSite, 'hook' | 'layer'>): `blocks.${number}.${HeadPatchedHook | StreamPatchedHook | RowPatchedHook}` {
  return actName(site.hook, site.layer) as HookName as `blocks.${number}.${HeadPatchedHook | StreamPatchedHook | RowPatchedHook}`;
}
