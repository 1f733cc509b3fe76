/**
 * GPT-2's byte-level alphabet (`bytes_to_unicode` in openai/gpt-2's encoder.py): every byte gets
 * a printable character, so BPE can work on strings. Printable Latin-1 bytes stand for themselves;
 * the other 68 bytes (controls, space, ...) map to U+0100 onwards, e.g. space -> "Ġ" (U+0120),
 * newline -> "Ċ" (U+010A). Vocabulary entries of byte-level BPE tokenizers are spelled in it.
 */

function buildByteToChar(): string[] {
  const isPrintable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCharCode(isPrintable(b) ? b : 256 + next++));
  return table;
}

/** byte -> its character in the byte-level alphabet. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** character of the byte-level alphabet -> its byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The bytes a byte-level token string stands for, or null if it has a character outside the alphabet. */
export function byteLevelToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]!);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

/** Spells bytes in the byte-level alphabet. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}
