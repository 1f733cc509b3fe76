/**
 * The command table (package.json contributes.commands, except the Lab panel's own commands) and
 * its registration: every entry registered in one loop, each handler guarded so that a failure
 * becomes a notification with fitting actions instead of an unhandled rejection.
 */
import * as vscode from 'vscode';
import { notifyError } from '../error-notifier.js';
import { ANALYZE_COMMANDS } from './analyze.js';
import type { CommandContext, CommandEntry, CommandHandler } from './command-table.js';
import { HISTORY_COMMANDS } from './history.js';
import { LAB_COMMANDS } from './lab.js';
import { MODEL_COMMANDS } from './model.js';
import { PATCH_COMMANDS } from './patch.js';
import { CIRCUIT_COMMANDS } from './circuit.js';
import { CIRCUIT_CHECK_COMMANDS } from './circuit-check.js';
import { ATTRIBUTION_COMMANDS } from './attribution.js';
import { FEATURE_COMMANDS } from '../features/feature-commands.js';

export type { CommandContext, CommandEntry } from './command-table.js';

export const COMMANDS: readonly CommandEntry[] = [
  ...ANALYZE_COMMANDS,
  ...PATCH_COMMANDS,
  ...CIRCUIT_COMMANDS,
  ...MODEL_COMMANDS,
  ...LAB_COMMANDS,
  ...HISTORY_COMMANDS,
  ...CIRCUIT_CHECK_COMMANDS,
  ...ATTRIBUTION_COMMANDS,
  ...FEATURE_COMMANDS,
];

/** Runs a handler, turning its failure into a notification with fitting actions. */
function guarded(entry: CommandEntry, ctx: CommandContext, handler: CommandHandler): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    try {
      await handler(...(args as never[]));
    } catch (error) {
      const active = ctx.models.active().choice;
      await notifyError(error, entry.title, ctx.log, active.kind === 'hub' ? { downloadRepo: active.repo } : {});
    }
  };
}

export function registerCommands(ctx: CommandContext): void {
  for (const entry of COMMANDS) {
    ctx.extension.subscriptions.push(vscode.commands.registerCommand(entry.id, guarded(entry, ctx, entry.factory(ctx))));
  }
}
