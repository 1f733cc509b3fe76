/**
 * How the Lab shows a token. A BOS the engine prepended (TokenInfo.bos: position 0, no text in the
 * prompt) is not shown as its text ("<|endoftext|>") but as a muted ⟨BOS⟩ chip, so that it is not
 * mistaken for something the user wrote; every other token is its one-line label.
 */
import type { TokenInfo } from '../../../protocol/analysis.js';
import { tokenLabel, truncateLabel } from './format.js';

export const BOS_LABEL = '⟨BOS⟩';
/** The tooltip of a BOS chip or axis label. */
export const BOS_TITLE = 'prepended BOS, position 0';

export function isBos(token: TokenInfo | undefined): boolean {
  return token?.bos === true;
}

/** A token as a one-line label: ⟨BOS⟩ for the prepended BOS, else its text (escapes visible). */
export function tokenDisplay(token: TokenInfo | undefined): string {
  if (!token) return '';
  return isBos(token) ? BOS_LABEL : tokenLabel(token.text);
}

/** A token inside a sentence: ⟨BOS⟩, or its text in quotes (" mat"). */
export function tokenQuoted(token: TokenInfo | undefined): string {
  if (isBos(token)) return BOS_LABEL;
  return JSON.stringify(token?.text ?? '');
}

/** Axis labels for a token axis, each at most `max` characters. */
export function tokenAxisLabels(tokens: readonly TokenInfo[], max: number): string[] {
  return tokens.map((t) => (isBos(t) ? BOS_LABEL : truncateLabel(tokenLabel(t.text), max)));
}

/** Positions of prepended BOS tokens (their axis labels are drawn muted). */
export function bosPositions(tokens: readonly TokenInfo[]): ReadonlySet<number> {
  const out = new Set<number>();
  tokens.forEach((t, i) => {
    if (isBos(t)) out.add(i);
  });
  return out;
}

/** The tooltip of a token chip: "position 3", or the BOS's own explanation. */
export function tokenTitle(token: TokenInfo | undefined, position: number): string {
  return isBos(token) ? BOS_TITLE : `position ${position}`;
}

/** A token as a chip or column heading: its label, its tooltip, and whether to draw it muted. */
export interface TokenChip {
  label: string;
  title: string;
  bos: boolean;
}

export function tokenChip(token: TokenInfo | undefined, position: number): TokenChip {
  return { label: tokenDisplay(token), title: tokenTitle(token, position), bos: isBos(token) };
}

/** The prompt text the tokens came from: a prepended BOS was not part of it. */
export function promptText(tokens: readonly TokenInfo[]): string {
  return tokens
    .filter((t) => !isBos(t))
    .map((t) => t.text)
    .join('');
}

export interface PositionConvention {
  /** Whether tokens[0] is a prepended BOS. */
  bos: boolean;
  /** A few words for the header. */
  text: string;
  /** The same, spelled out (tooltip). */
  title: string;
}

/** Which position convention a result follows: with a prepended BOS, positions count it as 0. */
export function positionConvention(result: { prependBos?: boolean; tokens: readonly TokenInfo[] }): PositionConvention {
  const bos = result.prependBos === true || isBos(result.tokens[0]);
  return bos
    ? {
        bos,
        text: 'positions count the prepended BOS as 0',
        title: 'A BOS token was prepended (TransformerLens prepend_bos): it is position 0, and the first token of the prompt is position 1.',
      }
    : { bos, text: 'no BOS', title: "No BOS token was prepended: position 0 is the prompt's first token." };
}
