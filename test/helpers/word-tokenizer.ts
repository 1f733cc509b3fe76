/**
 * A toy tokenizer for the random test models: token i is the word " w<i>" (GPT-2 style, the leading
 * space belongs to the token). `encode` splits on spaces; an unknown word becomes two tokens so that
 * the NOT_SINGLE_TOKEN path can be exercised: "xK" (K a number) encodes as [" w0", " wK"].
 */
import type { PromptTokenizer, Tokenized } from '../../src/engine/tokenizer/types.js';

export class WordTokenizer implements PromptTokenizer {
  constructor(readonly vocabSize: number) {}

  tokenText(id: number): string {
    return ` w${id}`;
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => this.tokenText(id)).join('');
  }

  encode(text: string): Tokenized {
    const out: Tokenized = { ids: [], texts: [], offsets: [] };
    for (const m of text.matchAll(/ ?\S+/g)) {
      const start = m.index;
      const word = m[0];
      const known = /^ ?w(\d+)$/.exec(word);
      const unknown = /^ ?x(\d+)$/.exec(word);
      if (known && Number(known[1]) < this.vocabSize) {
        out.ids.push(Number(known[1]));
        out.texts.push(word);
        out.offsets.push([start, start + word.length]);
      } else if (unknown && Number(unknown[1]) < this.vocabSize) {
        out.ids.push(0, Number(unknown[1]));
        out.texts.push(word.slice(0, 1), word.slice(1));
        out.offsets.push([start, start + 1], [start + 1, start + word.length]);
      } else {
        throw new Error(`WordTokenizer: unknown word ${JSON.stringify(word)}`);
      }
    }
    return out;
  }
}
