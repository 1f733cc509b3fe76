/**
 * Turns what a Hub call throws (the library's HubApiError, fetch's network TypeErrors, aborts)
 * into EngineErrors that say what happened and what to do.
 */
import { HubApiError } from '@huggingface/hub';
import { EngineError } from '../../errors.js';

export interface HubErrorContext {
  repo: string;
  revision: string;
  endpoint: string;
  signal?: AbortSignal;
}

/** The innermost useful description of a network failure, e.g. "fetch failed (ECONNREFUSED)". */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${error.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
  }
  return error.message;
}

export function isAbortError(error: unknown): boolean {
  return (error instanceof Error || (typeof error === 'object' && error !== null)) && (error as { name?: unknown }).name === 'AbortError';
}

export function cancelledError(): EngineError {
  return new EngineError('CANCELLED', 'The download was cancelled.', 'Partial files are kept; loading the model again resumes where it stopped.');
}

/** The hint for any failed transfer: what the user can try. */
export function retryHint(context: HubErrorContext): string {
  return (
    `Check your connection (or proxy) and load the model again: finished files are kept and a partial file resumes. ` +
    `Set HF_ENDPOINT to use a mirror (now ${context.endpoint}), or enable offline mode to use a model already in the Hugging Face cache.`
  );
}

export function toEngineError(error: unknown, context: HubErrorContext): EngineError {
  if (context.signal?.aborted || isAbortError(error)) return cancelledError();
  if (error instanceof EngineError) return error;
  const where = `${context.repo}@${context.revision}`;
  if (error instanceof HubApiError) {
    if (error.statusCode === 404) {
      return new EngineError(
        'MODEL_NOT_FOUND',
        `The Hub has no model ${where} (${error.message}).`,
        'Check the model id and revision (e.g. openai-community/gpt2, main).',
      );
    }
    if (error.statusCode === 401 || error.statusCode === 403) {
      return new EngineError(
        'MODEL_NOT_FOUND',
        `The Hub refused access to ${where} (HTTP ${error.statusCode}): it does not exist, or it is private or gated.`,
        'Check the model id; for a private or gated model accept its terms on huggingface.co and set HF_TOKEN to an access token.',
      );
    }
    return new EngineError('DOWNLOAD_FAILED', `The Hub answered HTTP ${error.statusCode} for ${where}: ${error.message}`, retryHint(context));
  }
  const fsError = error as { syscall?: unknown; path?: unknown; code?: unknown; message?: unknown };
  if (typeof fsError.syscall === 'string' && typeof fsError.path === 'string') {
    // A local filesystem failure (full disk, permissions), not a network one.
    return new EngineError(
      'DOWNLOAD_FAILED',
      `Writing ${where} into the Hugging Face cache failed: ${String(fsError.message)}.`,
      'Free some disk space or choose a writable cache folder (HF_HUB_CACHE or the cache setting), then load the model again.',
    );
  }
  if (error instanceof TypeError && error.message.includes('access token must start with')) {
    return new EngineError(
      'BAD_ARGUMENT',
      'The Hugging Face access token (HF_TOKEN) is malformed: it must start with "hf_".',
      'Copy a token from huggingface.co/settings/tokens.',
    );
  }
  return new EngineError('DOWNLOAD_FAILED', `Downloading ${where} from ${context.endpoint} failed: ${describeNetworkError(error)}.`, retryHint(context));
}
