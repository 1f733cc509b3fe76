/**
 * The status bar item that shows the active model, whether it is loading or loaded, and on which
 * device; clicking it runs Select Model. The model's name and id, the fallback reason and the
 * device note are text in its Markdown tooltip (escapeMarkdown: no link, markup or $(icon) from them).
 */
import * as vscode from 'vscode';
import { escapeMarkdown } from '../format/markdown-text.js';
import type { ActiveModel } from './model-selection.js';
import type { LoadedModel } from './model-loader.js';

export interface ModelStatus {
  active: ActiveModel;
  /** The active model as loaded, if it is. */
  loaded: LoadedModel | undefined;
  loading: boolean;
  /** The device setting, shown until the model is loaded. */
  deviceSetting: string;
}

export class ModelStatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('circuitTrace.model', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Circuit Trace Model';
    this.item.command = 'circuitTrace.selectModel';
    this.item.show();
  }

  show({ active, loaded, loading, deviceSetting }: ModelStatus): void {
    // The organism's full name is long for the status bar.
    const short = active.choice.kind === 'organism' ? 'Organism' : active.displayName;
    if (loading) {
      this.item.text = `$(sync~spin) ${short}`;
      this.item.tooltip = `Circuit Trace: loading ${active.displayName}…`;
    } else if (loaded) {
      this.item.text = `$(circuit-board) ${short} · ${loaded.info.device}`;
      const info = loaded.info;
      this.item.tooltip = new vscode.MarkdownString(
        `**Circuit Trace model:** ${escapeMarkdown(active.displayName)} (${escapeMarkdown(active.id)})\n\n${info.nLayers} layers × ${info.nHeads} heads · device ${escapeMarkdown(info.device)}${info.deviceNote ? ` (${escapeMarkdown(info.deviceNote)})` : ''}${active.fallbackReason ? `\n\n$(warning) ${escapeMarkdown(active.fallbackReason)}` : ''}\n\nClick to select another model.`,
        true,
      );
    } else {
      this.item.text = `$(circuit-board) ${short} · ${deviceSetting}`;
      this.item.tooltip = `Circuit Trace model: ${active.displayName} (${active.id}), loaded on first analysis. Device setting: ${deviceSetting}. Click to select another model.`;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
