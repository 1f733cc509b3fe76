/**
 * The Heads view: the current analysis's heads grouped by class with their scores; clicking a
 * head selects it in the Lab, and a head selected in the Lab is revealed here.
 */
import * as vscode from 'vscode';
import type { AnalysisSession } from '../analysis-session.js';
import { groupHeads, type HeadGroup, type HeadItem } from './head-groups.js';

type HeadNode = { kind: 'group'; group: HeadGroup; historyId: string } | { kind: 'head'; head: HeadItem; historyId: string };

export class HeadsViewProvider implements vscode.TreeDataProvider<HeadNode> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private historyId: string | undefined;
  private shown: AnalysisSession['current'];
  private groups: HeadGroup[] = [];

  constructor(private readonly session: AnalysisSession) {
    session.onDidChange(() => this.update());
  }

  private update(): void {
    const current = this.session.current;
    // The same history entry can be recomputed (another threshold): compare the analyses themselves.
    if (current === this.shown) return;
    this.shown = current;
    this.historyId = current?.historyId;
    this.groups = current ? groupHeads(current.result.heads, current.result.census) : [];
    this.emitter.fire();
  }

  /** The tree node of a head of the current analysis (for TreeView.reveal). */
  nodeFor(layer: number, head: number): HeadNode | undefined {
    if (!this.historyId) return undefined;
    for (const group of this.groups) {
      const item = group.heads.find((h) => h.layer === layer && h.head === head);
      if (item) return { kind: 'head', head: item, historyId: this.historyId };
    }
    return undefined;
  }

  getTreeItem(node: HeadNode): vscode.TreeItem {
    if (node.kind === 'group') {
      const classed = node.group.label !== 'diffuse' && node.group.label !== 'no evidence';
      const item = new vscode.TreeItem(node.group.title, classed ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `${node.historyId}:group:${node.group.label}`;
      item.contextValue = 'headGroup';
      return item;
    }
    const h = node.head;
    const item = new vscode.TreeItem(h.name, vscode.TreeItemCollapsibleState.None);
    item.id = `${node.historyId}:head:${h.layer}:${h.head}`;
    item.description = h.description;
    item.tooltip = h.tooltip;
    item.contextValue = 'head';
    item.iconPath = new vscode.ThemeIcon('symbol-field');
    item.command = { command: 'circuitTrace.heads.select', title: 'Select in Lab', arguments: [h.layer, h.head] };
    return item;
  }

  getChildren(node?: HeadNode): HeadNode[] {
    const historyId = this.historyId;
    if (!historyId) return [];
    if (!node) return this.groups.map((group): HeadNode => ({ kind: 'group', group, historyId }));
    if (node.kind === 'group') return node.group.heads.map((head): HeadNode => ({ kind: 'head', head, historyId }));
    return [];
  }

  getParent(node: HeadNode): HeadNode | undefined {
    if (node.kind === 'group') return undefined;
    const group = this.groups.find((g) => g.heads.some((h) => h.layer === node.head.layer && h.head === node.head.head));
    return group ? { kind: 'group', group, historyId: node.historyId } : undefined;
  }

  /** The current analysis, described for the view's message line. */
  summary(): string | undefined {
    const current = this.session.current;
    if (!current) return undefined;
    return `${current.result.model.displayName}: ${current.result.prompt.length > 50 ? `${current.result.prompt.slice(0, 49)}…` : current.result.prompt}`;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
