/** The model description a result carries: the loaded model's shape without its load details. */
import type { ModelInfo } from '../../protocol/analysis.js';
import type { LoadedModelInfo } from '../../protocol/engine.js';

export function resultModelInfo(info: LoadedModelInfo): ModelInfo {
  const { id, displayName, nLayers, nHeads, dModel, dHead, dVocab, nCtx } = info;
  return { id, displayName, nLayers, nHeads, dModel, dHead, dVocab, nCtx };
}
