/**
 * The History view: recent analyses (identifiers, prompt and model, persisted in the workspace
 * state); click to reopen (recomputed), context action to delete.
 */
import * as vscode from 'vscode';
import type { HistoryEntry, HistoryStore } from '../history-store.js';
import { formatPercent, quoteToken } from '../format/token-text.js';

export class HistoryItem extends vscode.TreeItem {
  constructor(readonly entry: HistoryEntry) {
    super(entry.name, vscode.TreeItemCollapsibleState.None);
    this.id = `history:${entry.id}`;
    const top = entry.top ? ` · → ${quoteToken(entry.top.token)} ${formatPercent(entry.top.prob)}` : '';
    this.description = `${entry.modelName}${top}`;
    this.tooltip = new vscode.MarkdownString(
      [`**${entry.name}** on ${entry.modelName}`, '', '```text', entry.prompt, '```', '', new Date(entry.createdAt).toLocaleString()].join('\n'),
    );
    this.iconPath = new vscode.ThemeIcon('history');
    this.contextValue = 'historyEntry';
    this.command = { command: 'circuitTrace.history.reopen', title: 'Reopen', arguments: [this] };
  }
}

export class HistoryViewProvider implements vscode.TreeDataProvider<HistoryItem> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly history: HistoryStore) {}

  refresh(): void {
    this.emitter.fire();
  }

  getTreeItem(item: HistoryItem): vscode.TreeItem {
    return item;
  }

  getChildren(item?: HistoryItem): HistoryItem[] {
    if (item) return [];
    return this.history.list().map((e) => new HistoryItem(e));
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
