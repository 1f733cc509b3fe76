/**
 * Engine.attributionGraph: a request (prompt or ids, transcoder set, settings) resolved on the
 * loaded model as the feature requests resolve theirs, then buildAttributionGraph, streaming its
 * progress. The dictionary comes from the engine's feature tools (loaded once per spec).
 */
import { bosToPrepend, resolvePrompt } from '../../analysis/prompt-input.js';
import type { LoadedModel } from '../../model/load-model.js';
import type { DictionarySpec } from '../../../protocol/features.js';
import type { AttributionGraphProgress, AttributionGraphRequest, AttributionGraphResult } from '../../../protocol/attribution-graph-run.js';
import type { Dictionary } from '../dictionary.js';
import { buildAttributionGraph } from './attribution-graph.js';
import { checkGraphPrompt } from './limits.js';

export async function runAttributionGraph(
  loaded: LoadedModel,
  request: AttributionGraphRequest,
  context: { maxTokens: number; dictionary: (spec: DictionarySpec) => Promise<Dictionary> },
  hooks: { signal?: AbortSignal; onProgress?: (p: AttributionGraphProgress) => void } = {},
): Promise<AttributionGraphResult> {
  const { runner, tokenizer } = loaded;
  const { config } = runner;
  const prompt = resolvePrompt(
    tokenizer,
    { ...(request.prompt !== undefined ? { prompt: request.prompt } : {}), ...(request.ids !== undefined ? { ids: request.ids } : {}) },
    { maxTokens: context.maxTokens, nCtx: config.nCtx, dVocab: config.dVocab, prependBosId: bosToPrepend(config, request.prependBos) },
  );
  checkGraphPrompt(prompt.ids);
  const dictionary = await context.dictionary(request.dictionary);
  const { result } = await buildAttributionGraph(
    runner,
    dictionary,
    prompt.ids,
    (id) => tokenizer.tokenText(id),
    {
      ...(request.nodeThreshold !== undefined ? { nodeThreshold: request.nodeThreshold } : {}),
      ...(request.edgeThreshold !== undefined ? { edgeThreshold: request.edgeThreshold } : {}),
      ...(request.maxFeatureNodes !== undefined ? { maxFeatureNodes: request.maxFeatureNodes } : {}),
      ...(request.maxLogits !== undefined ? { maxLogits: request.maxLogits } : {}),
      ...(request.logitProbability !== undefined ? { logitProbability: request.logitProbability } : {}),
      ...(request.batchSize !== undefined ? { batchSize: request.batchSize } : {}),
    },
    { ...(hooks.signal ? { signal: hooks.signal } : {}), ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}) },
  );
  return result;
}
