/** A prompt as token ids, with each token's decoded text and character span in the prompt. */
export interface Tokenized {
  ids: number[];
  /** Decoded text of each token (GPT-2 style: a leading space belongs to the token). */
  texts: string[];
  /** Character offsets [start, end) of each token in the input string (UTF-16 code units). */
  offsets: Array<[number, number]>;
}

/** The tokenizer contract the rest of the engine relies on. */
export interface PromptTokenizer {
  readonly vocabSize: number;
  encode(text: string): Tokenized;
  decode(ids: readonly number[]): string;
  /** Decoded text of a single token id. */
  tokenText(id: number): string;
}
