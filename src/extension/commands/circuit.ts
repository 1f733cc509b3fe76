/**
 * Find Circuit: circuit discovery (EAP-IG edge scores, the top edges, exact faithfulness and its
 * curve) for the `.prompt` prompt at the cursor when it has @corrupt, or else for the selection
 * (or the current analysis's prompt) and a corrupted prompt, target and contrast asked for; the
 * circuit opens in the Lab's circuit view.
 */
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import type { CircuitRequest } from '../../protocol/circuit.js';
import type { AnalysisQuestion } from '../analysis-key.js';
import { shortPromptName } from '../history-store.js';
import { isPromptDocument } from '../prompt-file/prompt-documents.js';
import { metricOf, questionOf, tokenRefOf } from '../prompt-file/prompt-request.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { askPromptPair } from './prompt-pair-questions.js';
import { originOf } from './prompt-entries.js';

async function findCircuit(ctx: CommandContext): Promise<void> {
  const { session } = ctx;
  const editor = vscode.window.activeTextEditor;
  if (editor && isPromptDocument(editor.document) && editor.selection.isEmpty) {
    const prompt = ctx.documents.promptAt(editor.document, editor.selection.active);
    if (prompt?.corrupt) {
      if (prompt.errorCount > 0)
        throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has problems.`, 'Fix them (see the Problems panel) and try again.');
      const origin = originOf(prompt);
      const target = tokenRefOf(prompt.target) ?? { id: await session.topPrediction(questionOf(prompt), origin) };
      const request: CircuitRequest = { clean: prompt.text, corrupt: prompt.corrupt.text, target };
      const contrast = tokenRefOf(prompt.contrast);
      if (contrast) request.contrast = contrast;
      const metric = metricOf(prompt);
      if (metric) request.metric = metric;
      await session.circuit(request, origin);
      return;
    }
  }
  const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).replace(/\s+$/, '') : (session.current?.result.prompt ?? '');
  const pair = await askPromptPair(
    {
      command: 'Find Circuit',
      clean: 'The prompt whose behaviour the circuit should explain',
      target: 'The token whose prediction the circuit carries, as a JSON string (e.g. " Mary") or a token id; empty: the clean prompt\'s top prediction',
      contrast: 'Measure the logit difference target − contrast (e.g. " John"); empty: log p(target)',
    },
    selected,
  );
  if (!pair) return;
  const { clean, corrupt, target, contrast } = pair;
  const origin = { name: shortPromptName(clean), corrupt };
  const question: AnalysisQuestion = { prompt: clean };
  const resolvedTarget = target ?? { id: await session.topPrediction(question, origin) };
  await session.circuit({ clean, corrupt, target: resolvedTarget, ...(contrast ? { contrast } : {}) }, origin);
}

export const CIRCUIT_COMMANDS: readonly CommandEntry[] = [{ id: 'circuitTrace.findCircuit', title: 'Find Circuit', factory: (ctx) => () => findCircuit(ctx) }];
