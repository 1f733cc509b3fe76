/**
 * The History view: recent analyses (identifiers, prompt and model, persisted in the workspace
 * state); click to reopen (recomputed), context action to delete.
 */
import * as vscode from 'vscode';
import type { HistoryEntry, HistoryStore } from '../history-store.js';
import { formatPercent, quoteToken } from '../format/token-text.js';
import { escapeMarkdown, markdownCodeBlock } from '../format/markdown-text.js';

export class HistoryItem extends vscode.TreeItem {
  constructor(readonly entry: HistoryEntry) {
    super(entry.name, vscode.TreeItemCollapsibleState.None);
    this.id = `history:${entry.id}`;
    const top = entry.top ? ` · → ${quoteToken(entry.top.token)} ${formatPercent(entry.top.prob)}` : '';
    this.description = `${entry.modelName}${top}`;
    this.tooltip = new vscode.MarkdownString(
      [
        `**${escapeMarkdown(entry.name)}** on ${escapeMarkdown(entry.modelName)}`,
        '',
        markdownCodeBlock(entry.prompt),
        '',
        escapeMarkdown(new Date(entry.createdAt).toLocaleString()),
      ].join('\n'),
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
