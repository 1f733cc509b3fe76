/**
 * A model's BOS and whether a text prompt gets it by default, from the files a Hugging Face model
 * folder has: tokenizer_config.json (`bos_token`, `add_bos_token`), tokenizer.json's post-processor
 * (a TemplateProcessing whose `single` starts with a special token, as Llama's, Mistral's and
 * Gemma's do) and config.json (`bos_token_id`, `model_type`).
 *
 * The engine prepends the BOS itself (the tokenizer is called without special tokens); this only
 * decides the default. It is TransformerLens's `default_prepend_bos`: true, except for the families
 * loading_from_pretrained.py sets to false (GPT-NeoX/Pythia, BLOOM, Qwen, Qwen2, Qwen3, Phi),
 * whose tokenizers add no BOS and whose training text did not start with one.
 */

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** config.json `model_type`s of the architectures TransformerLens loads with default_prepend_bos = False. */
const NO_DEFAULT_BOS_MODEL_TYPES: ReadonlySet<string> = new Set(['gpt_neox', 'bloom', 'qwen', 'qwen2', 'qwen3', 'phi']);

export interface BosConvention {
  /** The BOS token's id, or null when the model names none. */
  bosTokenId: number | null;
  /** Whether a text prompt gets the BOS when the user has not said (TransformerLens's default_prepend_bos). */
  prependByDefault: boolean;
  /** Whether the model's own tokenizer puts the BOS in front (add_bos_token, or its post-processor's template). */
  tokenizerAddsBos: boolean;
}

export interface BosSources {
  /** config.json. */
  config: JsonObject;
  /** tokenizer.json, parsed. */
  tokenizerJson?: unknown;
  /** tokenizer_config.json, parsed, when the folder has one. */
  tokenizerConfig?: unknown;
  /** The id of a token's text in the tokenizer (its vocabulary or added tokens). */
  tokenToId: (token: string) => number | undefined;
}

/** tokenizer_config.json's `bos_token`: a string, an AddedToken-like { content }, or null (explicitly none). */
function configuredBosToken(tokenizerConfig: unknown): string | null | undefined {
  if (!isObject(tokenizerConfig) || !('bos_token' in tokenizerConfig)) return undefined;
  const bos = tokenizerConfig.bos_token;
  if (typeof bos === 'string') return bos;
  if (isObject(bos) && typeof bos.content === 'string') return bos.content;
  return null;
}

/** The id of the special token a TemplateProcessing's `single` starts with (in a Sequence of processors too). */
function templateBosId(postProcessor: unknown): number | undefined {
  if (!isObject(postProcessor)) return undefined;
  if (Array.isArray(postProcessor.processors)) {
    for (const child of postProcessor.processors) {
      const id = templateBosId(child);
      if (id !== undefined) return id;
    }
    return undefined;
  }
  if (postProcessor.type !== 'TemplateProcessing' || !Array.isArray(postProcessor.single)) return undefined;
  const first: unknown = postProcessor.single[0];
  if (!isObject(first) || !isObject(first.SpecialToken) || typeof first.SpecialToken.id !== 'string') return undefined;
  const special = isObject(postProcessor.special_tokens) ? postProcessor.special_tokens[first.SpecialToken.id] : undefined;
  const ids = isObject(special) ? special.ids : undefined;
  return Array.isArray(ids) && Number.isSafeInteger(ids[0]) ? (ids[0] as number) : undefined;
}

export function bosConvention(sources: BosSources): BosConvention {
  const { config, tokenizerConfig, tokenToId } = sources;
  const postProcessor = isObject(sources.tokenizerJson) ? sources.tokenizerJson.post_processor : undefined;
  const fromTemplate = templateBosId(postProcessor);
  const configured = configuredBosToken(tokenizerConfig);
  const configuredId = typeof configured === 'string' ? tokenToId(configured) : undefined;
  const fromConfig = Number.isSafeInteger(config.bos_token_id) && (config.bos_token_id as number) >= 0 ? (config.bos_token_id as number) : undefined;
  // tokenizer_config's bos_token names it where it says one; the template's, then config.json's, otherwise.
  const bosTokenId = configuredId ?? fromTemplate ?? fromConfig ?? null;
  const addBos = isObject(tokenizerConfig) ? tokenizerConfig.add_bos_token : undefined;
  const tokenizerAddsBos = bosTokenId !== null && (addBos === true || (addBos !== false && fromTemplate === bosTokenId));
  const noDefault = typeof config.model_type === 'string' && NO_DEFAULT_BOS_MODEL_TYPES.has(config.model_type);
  return { bosTokenId, prependByDefault: bosTokenId !== null && !noDefault, tokenizerAddsBos };
}
