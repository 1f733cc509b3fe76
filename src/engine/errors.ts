/**
 * Typed errors of the engine. Every failure a user can cause (bad prompt, bad model folder,
 * unknown architecture, cancelled run, ...) is an EngineError with a stable `code`, so that
 * the extension can pick the right notification action and tests can assert on the kind.
 */
export type EngineErrorCode =
  | 'EMPTY_PROMPT'
  | 'PROMPT_TOO_LONG'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_FILE_MISSING'
  | 'CORRUPT_WEIGHTS'
  | 'MISSING_TENSOR'
  | 'WRONG_SHAPE'
  | 'UNSUPPORTED_DTYPE'
  | 'UNKNOWN_ARCHITECTURE'
  /** The model's architecture loads and runs, but not this operation (analyses, patching of Llama-family models). */
  | 'UNSUPPORTED_ARCHITECTURE'
  | 'BAD_CONFIG'
  | 'BAD_TOKENIZER'
  | 'VOCAB_MISMATCH'
  | 'NON_FINITE'
  | 'UNTRUSTED_WORKSPACE'
  | 'PROMPT_FILE_TOO_LARGE'
  | 'LOCKED'
  | 'NOT_SINGLE_TOKEN'
  | 'LENGTH_MISMATCH'
  | 'BAD_ARGUMENT'
  | 'DOWNLOAD_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'OFFLINE'
  | 'CANCELLED'
  | 'DEVICE_UNAVAILABLE'
  | 'WORKER_CRASHED'
  | 'INTERNAL';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** What the user can do about it, shown after the message. */
    readonly hint?: string,
  ) {
    super(hint ? `${message} ${hint}` : message);
  }
}

export function isEngineError(value: unknown): value is EngineError {
  return value instanceof EngineError;
}

/** Throws CANCELLED when the signal has fired; call between units of work. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EngineError('CANCELLED', 'The run was cancelled.');
}

/** A plain, structured-clone-safe form of an error, for crossing worker and webview boundaries. */
export interface SerializedError {
  code: EngineErrorCode;
  message: string;
  hint?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof EngineError) return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message };
}

export function deserializeError(error: SerializedError): EngineError {
  const e = new EngineError(error.code, error.message);
  return e;
}
