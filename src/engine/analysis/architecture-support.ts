/** Which architectures the analyses and patching handle correctly; the others are refused, not given wrong numbers. */
import { EngineError } from '../errors.js';
import { graphFamily, type ModelConfig } from '../model/config.js';

/** Graph families whose analyses and patching are built and tested against float64 references. */
const ANALYSABLE: ReadonlySet<string> = new Set(['gpt2', 'llama', 'gemma', 'neox', 'neox_sequential']);

/** Throws UNSUPPORTED_ARCHITECTURE for graph families whose analyses or patched forwards are not built yet. */
export function assertAnalysable(config: ModelConfig, what: 'Analyses' | 'Patching'): void {
  if (ANALYSABLE.has(graphFamily(config))) return;
  throw new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    `${what} ${what === 'Patching' ? 'does' : 'do'} not support ${config.modelType} models yet: they run on GPT-2-family (gpt2, gpt_neo), Llama-family (llama, mistral, qwen2, qwen3), Gemma (gemma2, gemma3_text) and GPT-NeoX (gpt_neox) models.`,
    `A ${config.modelType} model runs its forward with every hook point (circuit-trace run --hooks all --out FILE).`,
  );
}
