/**
 * The identity of an analysis: what was asked (prompt text, traced target and contrast) and of which
 * model. CodeLens and hovers show a result only when the prompt under them still has the same key,
 * so an edit or a model switch makes stale results disappear instead of lying.
 * Pure: no vscode import.
 */
import { createHash } from 'node:crypto';
import type { MetricRequest, TokenRef } from '../protocol/engine.js';
import type { PrependBosSetting } from './settings.js';

export interface AnalysisQuestion {
  prompt: string;
  target?: TokenRef;
  contrast?: TokenRef;
  /** A named metric (`@metric`); absent: the default one. */
  metric?: MetricRequest;
}

function refKey(ref: TokenRef | undefined): string | number | null {
  if (ref === undefined) return null;
  return 'id' in ref ? ref.id : `t:${ref.text}`;
}

/**
 * `<sha256 of the question, 16 hex digits>@<model id>`. The BOS setting is part of the question:
 * another convention gives other positions and numbers, so other keys ('model', the default, keeps
 * the keys of questions asked before the setting had other values).
 */
export function analysisKey(question: AnalysisQuestion, modelId: string, prependBos: PrependBosSetting = 'model'): string {
  // The metric joins the key only when named, so the keys of every other question stay as they were.
  const asked: unknown[] = [question.prompt, refKey(question.target), refKey(question.contrast)];
  if (question.metric) asked.push(`m:${question.metric.kind}:${question.metric.startYear}`);
  const hash = createHash('sha256')
    .update(JSON.stringify(prependBos === 'model' ? asked : [...asked, `bos:${prependBos}`]))
    .digest('hex')
    .slice(0, 16);
  return `${hash}@${modelId}`;
}
