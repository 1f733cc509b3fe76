/**
 * The UTF-8 bytes of the text a vocabulary entry stands for, which is how its text is shown and
 * how its place in the prompt is found (align-offsets.ts). Vocabularies spell text in one of a few ways:
 *  - byte-level BPE (GPT-2, Llama 3, Qwen): every byte as a character of GPT-2's byte alphabet, "Ġ" a space;
 *  - SentencePiece style (Llama 2, Mistral, Gemma, T5's Unigram): "▁" for a space, and with
 *    byte fallback <0x0A>-style tokens for single bytes the vocabulary has no piece for;
 *  - WordPiece: "##" before a piece that continues a word; others (WordLevel): the text itself.
 */
import { byteLevelToBytes } from './byte-level.js';

export interface SurfaceRules {
  /** The vocabulary is spelled in GPT-2's byte alphabet. */
  byteLevel: boolean;
  /** <0xNN> tokens stand for the byte NN (BPE `byte_fallback`). */
  byteFallback: boolean;
  /** The character that stands for a space ("▁"), or null. */
  metaspace: string | null;
  /** WordPiece's mark of a word-continuing piece ("##"), or null. */
  continuingSubwordPrefix: string | null;
  /** A BPE suffix marking a word's last piece ("</w>"), which stands for no text of its own, or null. */
  endOfWordSuffix: string | null;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const utf8 = new TextEncoder();

export function tokenSurface(token: string, rules: SurfaceRules): Uint8Array {
  if (rules.byteLevel) {
    // An entry outside the byte alphabet is taken as text.
    return byteLevelToBytes(token) ?? utf8.encode(token);
  }
  if (rules.byteFallback) {
    const byte = BYTE_TOKEN.exec(token);
    if (byte) return Uint8Array.of(parseInt(byte[1]!, 16));
  }
  let text = token;
  const prefix = rules.continuingSubwordPrefix;
  if (prefix && text.length > prefix.length && text.startsWith(prefix)) text = text.slice(prefix.length);
  const suffix = rules.endOfWordSuffix;
  if (suffix && text.endsWith(suffix)) text = text.slice(0, -suffix.length);
  if (rules.metaspace) text = text.replaceAll(rules.metaspace, ' ');
  return utf8.encode(text);
}
