/**
 * The Presets view: the five presets of the original app (each with the circuit the literature
 * expects), then the prompts of the workspace's `.prompt` files, one node per file. Clicking a
 * prompt analyzes it.
 */
import * as vscode from 'vscode';
import { PRESETS, type Preset } from '../presets.js';
import { parsePromptFile, type PromptEntry } from '../prompt-file/parser.js';
import { quoteToken } from '../format/token-text.js';

type PresetNode =
  | { kind: 'preset'; preset: Preset }
  | { kind: 'file'; uri: vscode.Uri; prompts: PromptEntry[]; problems: number }
  | { kind: 'prompt'; uri: vscode.Uri; prompt: PromptEntry };

const MAX_PROMPT_FILES = 50;

export class PresetsViewProvider implements vscode.TreeDataProvider<PresetNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private files: { uri: vscode.Uri; prompts: PromptEntry[]; problems: number }[] = [];
  private readonly watcher: vscode.FileSystemWatcher;
  private scanTimer: NodeJS.Timeout | undefined;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.watcher = vscode.workspace.createFileSystemWatcher('**/*.prompt');
    this.watcher.onDidCreate(() => this.scheduleScan());
    this.watcher.onDidChange(() => this.scheduleScan());
    this.watcher.onDidDelete(() => this.scheduleScan());
    void this.scan();
  }

  scheduleScan(): void {
    clearTimeout(this.scanTimer);
    this.scanTimer = setTimeout(() => void this.scan(), 300);
  }

  private async scan(): Promise<void> {
    try {
      const uris = await vscode.workspace.findFiles('**/*.prompt', '**/node_modules/**', MAX_PROMPT_FILES);
      uris.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
      const files: typeof this.files = [];
      for (const uri of uris) {
        // An open editor's unsaved text is what the user sees: prefer it over the file on disk.
        const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        const text = open ? open.getText() : new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
        const parsed = parsePromptFile(text);
        files.push({ uri, prompts: parsed.prompts, problems: parsed.errors.length });
      }
      this.files = files;
    } catch (error) {
      this.log.warn(`Presets: could not read the workspace's .prompt files: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.emitter.fire();
  }

  getTreeItem(node: PresetNode): vscode.TreeItem {
    switch (node.kind) {
      case 'preset': {
        const p = node.preset;
        const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
        item.id = `preset:${p.id}`;
        item.description = p.expectedCircuit;
        const lines = [
          `**${p.label}**`,
          '',
          '```text',
          p.prompt,
          '```',
          '',
          `**Expected circuit:** ${p.expectedCircuit}`,
          '',
          `_${p.source}_`,
        ];
        if (p.target) lines.splice(5, 0, `Target ${quoteToken(p.target)}${p.contrast ? `, contrast ${quoteToken(p.contrast)}` : ''}`, '');
        item.tooltip = new vscode.MarkdownString(lines.join('\n'));
        item.iconPath = new vscode.ThemeIcon('symbol-event');
        item.contextValue = 'preset';
        item.command = { command: 'circuitTrace.analyzePreset', title: 'Analyze', arguments: [p.id] };
        return item;
      }
      case 'file': {
        const item = new vscode.TreeItem(vscode.workspace.asRelativePath(node.uri), vscode.TreeItemCollapsibleState.Expanded);
        item.id = `file:${node.uri.toString()}`;
        item.resourceUri = node.uri;
        item.description = `${node.prompts.length} prompt${node.prompts.length === 1 ? '' : 's'}${node.problems > 0 ? ` · ${node.problems} problem${node.problems === 1 ? '' : 's'}` : ''}`;
        item.iconPath = vscode.ThemeIcon.File;
        item.contextValue = 'promptFile';
        return item;
      }
      case 'prompt': {
        const p = node.prompt;
        const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
        item.id = `prompt:${node.uri.toString()}#${p.name}`;
        item.description = p.text.length > 60 ? `${p.text.slice(0, 59)}…` : p.text;
        item.tooltip = new vscode.MarkdownString(['```text', p.text, '```', p.corrupt ? `\nCorrupted: \`${p.corrupt.text}\`` : ''].join('\n'));
        item.iconPath = new vscode.ThemeIcon(p.errorCount > 0 ? 'warning' : 'symbol-string');
        item.contextValue = p.corrupt ? 'prompt.patchable' : 'prompt';
        item.command = { command: 'circuitTrace.analyzePrompt', title: 'Analyze', arguments: [node.uri.toString(), p.name] };
        return item;
      }
    }
  }

  getChildren(node?: PresetNode): PresetNode[] {
    if (!node) {
      return [
        ...PRESETS.map((preset): PresetNode => ({ kind: 'preset', preset })),
        ...this.files.map((f): PresetNode => ({ kind: 'file', uri: f.uri, prompts: f.prompts, problems: f.problems })),
      ];
    }
    if (node.kind === 'file') return node.prompts.map((prompt): PresetNode => ({ kind: 'prompt', uri: node.uri, prompt }));
    return [];
  }

  dispose(): void {
    clearTimeout(this.scanTimer);
    this.watcher.dispose();
    this.emitter.dispose();
  }
}
