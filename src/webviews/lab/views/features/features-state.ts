/**
 * The feature views' part of the Lab state: the features shown, the last steering run (with the
 * edits it applied), the attribution graph shown, and which runs are going. Fed by the host's feature messages (lab-state.ts
 * delegates them here); pure, so it is tested in Node.
 */
import type { AttributionGraphResult } from '../../../../protocol/attribution-graph-run.js';
import type { FeatureEdit, FeaturesResult, SteerFeaturesResult } from '../../../../protocol/features.js';
import type { FeatureHostMessage, FeatureRunKind } from '../../../../protocol/feature-messages.js';

export interface FeaturesViewState {
  result: FeaturesResult | null;
  dictionaryName: string;
  steered: { result: SteerFeaturesResult; edits: FeatureEdit[] } | null;
  graph: { graph: AttributionGraphResult; dictionaryName: string; canRebuild: boolean; canExportJson: boolean } | null;
  busy: Record<FeatureRunKind, boolean>;
}

export const INITIAL_FEATURES_STATE: FeaturesViewState = {
  result: null,
  dictionaryName: '',
  steered: null,
  graph: null,
  busy: { features: false, steer: false, graph: false },
};

export function reduceFeatures(state: FeaturesViewState, message: FeatureHostMessage): FeaturesViewState {
  switch (message.type) {
    case 'features':
      // A new prompt or dictionary: the old steering run no longer applies.
      return { ...state, result: message.result, dictionaryName: message.dictionaryName, steered: null };
    case 'steered':
      return { ...state, steered: { result: message.result, edits: message.edits } };
    case 'featureBusy':
      return { ...state, busy: { ...state.busy, [message.run]: message.busy } };
    case 'attributionGraph':
      return {
        ...state,
        graph: { graph: message.graph, dictionaryName: message.dictionaryName, canRebuild: message.canRebuild, canExportJson: message.canExportJson },
      };
  }
}
