/**
 * The attribution view's part of the Lab state: the last attribution map, the last path-patching
 * map, and which runs are going. Fed by the host's attribution messages (lab-state.ts delegates
 * them here); pure, so it is tested in Node.
 */
import type { AttributionMap, PathPatchMap } from '../../../../protocol/attribution.js';
import type { AttributionHostMessage, AttributionRunKind } from '../../../../protocol/attribution-messages.js';

export interface AttributionViewState {
  map: AttributionMap | null;
  pathPatch: PathPatchMap | null;
  busy: Record<AttributionRunKind, boolean>;
  /** Why the last run of each kind failed (shown in place of its heatmaps); null when it did not. */
  errors: Record<AttributionRunKind, string | null>;
}

export const INITIAL_ATTRIBUTION_STATE: AttributionViewState = {
  map: null,
  pathPatch: null,
  busy: { attribution: false, pathPatch: false },
  errors: { attribution: null, pathPatch: null },
};

export function reduceAttribution(state: AttributionViewState, message: AttributionHostMessage): AttributionViewState {
  switch (message.type) {
    case 'attributionMap':
      return { ...state, map: message.map };
    case 'pathPatchMap':
      return { ...state, pathPatch: message.map };
    case 'attributionBusy':
      return {
        ...state,
        busy: { ...state.busy, [message.run]: message.busy },
        errors: { ...state.errors, [message.run]: message.busy ? null : (message.error ?? null) },
      };
  }
}
