/**
 * The identity of an analysis: what was asked (prompt text, traced target and contrast) and of which
 * model. CodeLens and hovers show a result only when the prompt under them still has the same key,
 * so an edit or a model switch makes stale results disappear instead of lying.
 * Pure: no vscode import.
 */
import { createHash } from 'node:crypto';
import type { TokenRef } from '../protocol/engine.js';

export interface AnalysisQuestion {
  prompt: string;
  target?: TokenRef;
  contrast?: TokenRef;
}

function refKey(ref: TokenRef | undefined): string | number | null {
  if (ref === undefined) return null;
  return 'id' in ref ? ref.id : `t:${ref.text}`;
}

/**
 * `<sha256 of the question, 16 hex digits>@<model id>`. `prependBos` (the setting, default on) is
 * part of the question: turning it off gives other positions and numbers, so other keys.
 */
export function analysisKey(question: AnalysisQuestion, modelId: string, prependBos = true): string {
  const asked = [question.prompt, refKey(question.target), refKey(question.contrast)];
  const hash = createHash('sha256')
    .update(JSON.stringify(prependBos ? asked : [...asked, 'no-bos']))
    .digest('hex')
    .slice(0, 16);
  return `${hash}@${modelId}`;
}
