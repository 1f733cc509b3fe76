/**
 * The Models view: the built-in organism, cached Hub models with their size, and known
 * downloadable models; the active one marked. Context actions: activate, download, delete.
 */
import * as vscode from 'vscode';
import type { ModelManager } from '../model/model-manager.js';
import type { CatalogEntry } from '../model/model-catalog.js';
import { escapeMarkdown } from '../format/markdown-text.js';

export class ModelItem extends vscode.TreeItem {
  constructor(readonly entry: CatalogEntry) {
    super(entry.label, vscode.TreeItemCollapsibleState.None);
    this.id = `model:${entry.id}`;
    this.description = entry.active ? `${entry.description} · active` : entry.description;
    this.tooltip = new vscode.MarkdownString(
      `**${escapeMarkdown(entry.label)}**${entry.active ? ' (active)' : ''}\n\n${escapeMarkdown(entry.id)}\n\n${escapeMarkdown(entry.detail)}`,
    );
    // contextValue drives the inline and context-menu actions in package.json (view/item/context).
    this.contextValue = `model.${entry.kind}${entry.active ? '.active' : ''}`;
    const icon = entry.active ? 'pass-filled' : entry.kind === 'organism' ? 'beaker' : entry.kind === 'cached' ? 'database' : 'cloud-download';
    this.iconPath = new vscode.ThemeIcon(icon);
    this.accessibilityInformation = { label: `${entry.label}, ${entry.description}${entry.active ? ', active' : ''}`, role: 'treeitem' };
    if (!entry.active && entry.kind !== 'remote') {
      this.command = { command: 'circuitTrace.models.activate', title: 'Use Model', arguments: [this] };
    }
  }
}

export class ModelsViewProvider implements vscode.TreeDataProvider<ModelItem> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly models: ModelManager) {
    models.onDidChange(() => this.emitter.fire());
  }

  getTreeItem(element: ModelItem): vscode.TreeItem {
    return element;
  }

  getChildren(element?: ModelItem): ModelItem[] {
    if (element) return [];
    return this.models.catalog().map((entry) => new ModelItem(entry));
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
