/**
 * Reads a token typed into an input box (Run Patch Sweep): a JSON string so that a leading space
 * is explicit (" Mary"), a token id, or nothing.
 * Pure: no vscode import.
 */
import type { TokenRef } from '../protocol/engine.js';

export type TokenInput = { ok: true; value: TokenRef | undefined } | { ok: false; message: string };

export function parseTokenInput(input: string): TokenInput {
  const text = input.trim();
  if (text === '') return { ok: true, value: undefined };
  if (/^\d+$/.test(text)) {
    const id = Number(text);
    return Number.isSafeInteger(id) ? { ok: true, value: { id } } : { ok: false, message: `Token id ${text} is too large.` };
  }
  if (!text.startsWith('"')) {
    return { ok: false, message: `Write the token as a JSON string so its leading space is explicit, e.g. ${JSON.stringify(' ' + text)}, or give a token id.` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'That is not a valid JSON string: check the quotes and escapes, e.g. " Mary".' };
  }
  if (typeof value !== 'string' || value === '') return { ok: false, message: 'The token must be a non-empty JSON string, e.g. " Mary".' };
  return { ok: true, value: { text: value } };
}
