/**
 * The feature views' part of the Lab state: the features shown, the last steering run (with the
 * edits it applied), and which runs are going. Fed by the host's feature messages (lab-state.ts
 * delegates them here); pure, so it is tested in Node.
 */
import type { FeatureEdit, FeaturesResult, SteerFeaturesResult } from '../../../../protocol/features.js';
import type { FeatureHostMessage, FeatureRunKind } from '../../../../protocol/feature-messages.js';

export interface FeaturesViewState {
  result: FeaturesResult | null;
  dictionaryName: string;
  steered: { result: SteerFeaturesResult; edits: FeatureEdit[] } | null;
  busy: Record<FeatureRunKind, boolean>;
}

export const INITIAL_FEATURES_STATE: FeaturesViewState = {
  result: null,
  dictionaryName: '',
  steered: null,
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
  }
}
