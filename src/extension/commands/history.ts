/** History commands: reopen, delete one, clear all (the History view's items and context menu). */
import { HistoryItem } from '../views/history-view.js';
import type { CommandContext, CommandEntry } from './command-table.js';

const historyId = (item?: HistoryItem | string): string | undefined =>
  item instanceof HistoryItem ? item.entry.id : typeof item === 'string' ? item : undefined;

async function reopen(ctx: CommandContext, item?: HistoryItem | string): Promise<void> {
  const id = historyId(item);
  if (id === undefined) return;
  await ctx.session.reopen(id);
  ctx.refreshHistory();
}

async function remove(ctx: CommandContext, item?: HistoryItem | string): Promise<void> {
  const id = historyId(item);
  if (id === undefined) return;
  await ctx.session.history.remove(id);
  ctx.session.forget(id);
  ctx.refreshHistory();
}

async function clear(ctx: CommandContext): Promise<void> {
  for (const entry of ctx.session.history.list()) ctx.session.forget(entry.id);
  await ctx.session.history.clear();
  ctx.refreshHistory();
}

export const HISTORY_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.history.reopen', title: 'Reopen Analysis', factory: (ctx) => (item?: HistoryItem | string) => reopen(ctx, item) },
  { id: 'circuitTrace.history.delete', title: 'Delete From History', factory: (ctx) => (item?: HistoryItem | string) => remove(ctx, item) },
  { id: 'circuitTrace.history.clear', title: 'Clear History', factory: (ctx) => () => clear(ctx) },
];
