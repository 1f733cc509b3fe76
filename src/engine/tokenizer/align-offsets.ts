/**
 * Character spans of tokens from the bytes each stands for (token-surface.ts), walked alongside
 * the prompt's UTF-8 bytes. Two differences between the two are expected and allowed:
 *  - a space the tokenizer added before a word (SentencePiece's "▁" at the start of the text or
 *    after a special token, a ByteLevel `add_prefix_space`), which is no character of the prompt;
 *  - whitespace the tokenizer dropped (a Whitespace pre-tokenizer, an added token's lstrip/rstrip),
 *    which goes to the span of the next token (the last one's, at the end).
 * Anything else (a normalizer that changed characters) means the tokens do not spell the prompt,
 * and there are no exact offsets: null.
 *
 * A character belongs to the token that holds its LAST byte; a token that only starts a character
 * (or stands for an added space alone) gets an empty span.
 */

const utf8 = new TextEncoder();
const SPACE = 0x20;

function isAsciiWhitespace(byte: number): boolean {
  return byte === SPACE || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

export function alignTokenBytes(text: string, tokens: readonly Uint8Array[]): Array<[number, number]> | null {
  const textBytes = utf8.encode(text);
  // Byte position (in textBytes) just after each code point, and the UTF-16 index it starts at.
  const codePointEnds: number[] = [];
  const codePointStarts: number[] = [];
  let bytePos = 0;
  for (let i = 0; i < text.length;) {
    const c = text.codePointAt(i)!;
    // A lone surrogate is encoded as U+FFFD (3 bytes), as TextEncoder does.
    const isPair = c > 0xffff;
    const byteLength = c < 0x80 ? 1 : c < 0x800 ? 2 : isPair ? 4 : 3;
    codePointStarts.push(i);
    bytePos += byteLength;
    codePointEnds.push(bytePos);
    i += isPair ? 2 : 1;
  }
  if (bytePos !== textBytes.length) return null;

  const offsets: Array<[number, number]> = [];
  let p = 0;
  /** Index of the first code point not yet assigned to a token. */
  let next = 0;
  for (const bytes of tokens) {
    for (let k = 0; k < bytes.length;) {
      if (p < textBytes.length && bytes[k] === textBytes[p]) {
        p++;
        k++;
      } else if (k === 0 && bytes[0] === SPACE) {
        k++;
      } else if (p < textBytes.length && isAsciiWhitespace(textBytes[p]!)) {
        p++;
      } else {
        return null;
      }
    }
    const start = codePointStarts[next] ?? text.length;
    // The token owns every code point whose last byte it holds.
    while (next < codePointEnds.length && codePointEnds[next]! <= p) next++;
    offsets.push([start, codePointStarts[next] ?? text.length]);
  }
  for (; p < textBytes.length; p++) if (!isAsciiWhitespace(textBytes[p]!)) return null;
  if (offsets.length > 0) offsets[offsets.length - 1]![1] = text.length;
  return offsets;
}
