/** A prompt as token ids, with each token's decoded text and character span in the prompt. */
export interface Tokenized {
  ids: number[];
  /** Decoded text of each token (GPT-2 style: a leading space belongs to the token). */
  texts: string[];
  /** Character offsets [start, end) of each token in the input string (UTF-16 code units). */
  offsets: Array<[number, number]>;
  /**
   * Present (true) when the offsets are only a best guess: the tokenizer changed the text (a
   * normalizer) or an unknown token stands for text it does not spell. Absent, they are exact: the
   * tokens spell the prompt, give or take a space the tokenizer added and whitespace it dropped.
   */
  approximateOffsets?: true;
}

/** The tokenizer contract the rest of the engine relies on. */
export interface PromptTokenizer {
  readonly vocabSize: number;
  encode(text: string): Tokenized;
  decode(ids: readonly number[]): string;
  /** Decoded text of a single token id. */
  tokenText(id: number): string;
  /** The id of a vocabulary entry or added token, spelled as in tokenizer.json ("<s>"), if there is one. */
  tokenId?(token: string): number | undefined;
}
