/**
 * Turns a parsed `.prompt` entry into the engine requests it stands for.
 * Pure: no vscode import.
 */
import type { MetricRequest, PatchRequest, TokenRef } from '../../protocol/engine.js';
import type { AnalysisQuestion } from '../analysis-key.js';
import type { PromptEntry, TokenValue } from './parser.js';

export function tokenRefOf(value: TokenValue | null): TokenRef | undefined {
  if (!value) return undefined;
  return value.kind === 'id' ? { id: value.id } : { text: value.text };
}

/** The `@metric` directive as the engine's MetricRequest (without the source range). */
export function metricOf(prompt: PromptEntry): MetricRequest | undefined {
  return prompt.metric ? { kind: prompt.metric.kind, startYear: prompt.metric.startYear } : undefined;
}

export function questionOf(prompt: PromptEntry): AnalysisQuestion {
  const question: AnalysisQuestion = { prompt: prompt.text };
  const target = tokenRefOf(prompt.target);
  const contrast = tokenRefOf(prompt.contrast);
  if (target) question.target = target;
  if (contrast) question.contrast = contrast;
  const metric = metricOf(prompt);
  if (metric) question.metric = metric;
  return question;
}

/**
 * The head sweep at the last position for a prompt with a corrupted counterpart. Without @target
 * the caller supplies the clean run's top prediction (`fallbackTarget`).
 */
export function patchRequestOf(prompt: PromptEntry, fallbackTarget?: TokenRef): PatchRequest | null {
  if (!prompt.corrupt) return null;
  const target = tokenRefOf(prompt.target) ?? fallbackTarget;
  if (!target) return null;
  const request: PatchRequest = { clean: prompt.text, corrupt: prompt.corrupt.text, target, kind: 'heads-last' };
  const contrast = tokenRefOf(prompt.contrast);
  if (contrast) request.contrast = contrast;
  const metric = metricOf(prompt);
  if (metric) request.metric = metric;
  return request;
}
