/** Check Circuit Hypothesis: the `@circuit` CodeLens runs its hypothesis on the active model. */
import { EngineError } from '../../engine/errors.js';
import { circuitCheckRequest } from '../../engine/circuits/prompt-circuits.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { findPrompt } from './prompt-entries.js';

/** Checks the hypothesis on `line` of prompt `name` in the document at `uri` (the CodeLens arguments). */
async function checkCircuitAt(ctx: CommandContext, uri: string, name: string, line: number): Promise<void> {
  const prompt = await findPrompt(ctx, uri, name);
  if (prompt.errorCount > 0) {
    throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has problems.`, 'Fix them (see the Problems panel) and check the circuit again.');
  }
  const hypothesis = prompt.circuits.find((c) => c.range.start.line === line);
  if (!hypothesis) throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has no @circuit on line ${line + 1} any more.`);
  await ctx.session.circuits.check(circuitCheckRequest(prompt, hypothesis), prompt.name);
}

export const CIRCUIT_CHECK_COMMANDS: readonly CommandEntry[] = [
  {
    id: 'circuitTrace.checkCircuit',
    title: 'Check Circuit',
    factory: (ctx) => async (uri: string, name: string, line: number) => checkCircuitAt(ctx, uri, name, line),
  },
];
