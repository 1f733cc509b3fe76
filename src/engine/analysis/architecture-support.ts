/** Which architectures the analyses and patching handle correctly; the others are refused, not given wrong numbers. */
import { EngineError } from '../errors.js';
import { graphFamily, type ModelConfig } from '../model/config.js';

/**
 * Throws UNSUPPORTED_ARCHITECTURE for Llama-family models: DLA and the logit lens assume
 * LayerNorm's centring (RMSNorm only scales), and their interventions are not built yet.
 */
export function assertAnalysable(config: Pick<ModelConfig, 'norm' | 'modelType'>, what: 'Analyses' | 'Patching'): void {
  if (graphFamily(config) === 'gpt2') return;
  throw new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    `${what} ${what === 'Patching' ? 'does' : 'do'} not support ${config.modelType} models yet: they run on GPT-2-family models (gpt2, gpt_neo).`,
    `A ${config.modelType} model runs its forward with every hook point (circuit-trace run --hooks all --out FILE).`,
  );
}
