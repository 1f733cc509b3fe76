/**
 * The four questions a clean/corrupted experiment asks when it is not run from a `.prompt` prompt
 * (Run Patch Sweep, Find Circuit): the clean prompt, the corrupted one (same token length, not the
 * same text), the target token and an optional contrast.
 */
import * as vscode from 'vscode';
import type { TokenRef } from '../../protocol/engine.js';
import { parseTokenInput } from '../token-input.js';

/** A token typed by the user: undefined when left empty (and optional), null when dismissed. */
export async function askToken(title: string, prompt: string, optional: boolean): Promise<TokenRef | undefined | null> {
  const value = await vscode.window.showInputBox({
    title,
    prompt,
    placeHolder: optional ? '" Mary"  (empty: none)' : '" Mary"',
    ignoreFocusOut: true,
    validateInput: (text) => {
      const parsed = parseTokenInput(text);
      if (!parsed.ok) return parsed.message;
      return !optional && parsed.value === undefined ? 'Enter a token, e.g. " Mary".' : undefined;
    },
  });
  if (value === undefined) return null; // dismissed
  const parsed = parseTokenInput(value);
  return parsed.ok ? parsed.value : null;
}

/** What each question says for one command. */
export interface PromptPairWording {
  /** The command's name, e.g. "Find Circuit": the questions are titled "Find Circuit (1/4): …". */
  command: string;
  clean: string;
  target: string;
  contrast: string;
}

export interface PromptPair {
  clean: string;
  corrupt: string;
  /** undefined: the clean prompt's top prediction. */
  target: TokenRef | undefined;
  contrast: TokenRef | undefined;
}

/** Asks the four questions, starting from `initial` as the clean prompt; undefined when any is dismissed. */
export async function askPromptPair(wording: PromptPairWording, initial: string): Promise<PromptPair | undefined> {
  const title = (step: number, what: string): string => `${wording.command} (${step}/4): ${what}`;
  const clean = await vscode.window.showInputBox({
    title: title(1, 'clean prompt'),
    prompt: wording.clean,
    value: initial,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' ? 'Enter the clean prompt.' : undefined),
  });
  if (clean === undefined) return undefined;
  const corrupt = await vscode.window.showInputBox({
    title: title(2, 'corrupted prompt'),
    prompt: 'The same prompt with the crucial part changed; it must have the same number of tokens',
    value: clean,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' ? 'Enter the corrupted prompt.' : v === clean ? 'The corrupted prompt must differ from the clean one.' : undefined),
  });
  if (corrupt === undefined) return undefined;
  const target = await askToken(title(3, 'target token'), wording.target, true);
  if (target === null) return undefined;
  const contrast = await askToken(title(4, 'contrast token (optional)'), wording.contrast, true);
  if (contrast === null) return undefined;
  return { clean, corrupt, target, contrast };
}
