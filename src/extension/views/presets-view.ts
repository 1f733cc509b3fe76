/**
 * The Presets view: the five presets of the original app (each with the circuit the literature
 * expects), then the prompts of the workspace's `.prompt` files, one node per file. Clicking a
 * prompt analyzes it.
 *
 * The files are read when the view first asks for its items, not on activation, one at a time with
 * a turn of the event loop between them, so neither activation nor the extension host waits on up
 * to 50 files. A file too large to parse (see MAX_PROMPT_FILE_LENGTH) is listed without prompts.
 */
import * as vscode from 'vscode';
import { PRESETS, type Preset } from '../presets.js';
import { parsePromptFile, type PromptEntry } from '../prompt-file/parser.js';
import { MAX_PROMPT_FILE_BYTES_READ } from '../../engine/prompt-file/read-prompt-file.js';
import { quoteToken } from '../format/token-text.js';
import { escapeMarkdown, markdownCodeBlock } from '../format/markdown-text.js';

interface PromptFileNode {
  uri: vscode.Uri;
  prompts: PromptEntry[];
  problems: number;
  /** Set when the file was not parsed: its size in bytes. */
  tooLargeBytes?: number;
}

type PresetNode = { kind: 'preset'; preset: Preset } | ({ kind: 'file' } & PromptFileNode) | { kind: 'prompt'; uri: vscode.Uri; prompt: PromptEntry };

const MAX_PROMPT_FILES = 50;

/** Lets other work run between two files (setImmediate: after pending I/O callbacks). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class PresetsViewProvider implements vscode.TreeDataProvider<PresetNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private files: PromptFileNode[] = [];
  private readonly watcher: vscode.FileSystemWatcher;
  private scanTimer: NodeJS.Timeout | undefined;
  /** The scan in progress or done; undefined until the view first asks for its items. */
  private scanning: Promise<void> | undefined;
  /** Bumped by every scan, so an older scan that finishes late does not overwrite a newer one. */
  private generation = 0;
  private disposed = false;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.watcher = vscode.workspace.createFileSystemWatcher('**/*.prompt');
    this.watcher.onDidCreate(() => this.scheduleScan());
    this.watcher.onDidChange(() => this.scheduleScan());
    this.watcher.onDidDelete(() => this.scheduleScan());
  }

  /** Rescans soon; before the view has been shown there is nothing to refresh. */
  scheduleScan(): void {
    if (!this.scanning) return;
    clearTimeout(this.scanTimer);
    this.scanTimer = setTimeout(() => void this.startScan(), 300);
  }

  /** Resolves when the files have been read (for tests; the view itself never waits). */
  whenScanned(): Promise<void> {
    return this.scanning ?? this.startScan();
  }

  private startScan(): Promise<void> {
    this.scanning = this.scan(++this.generation);
    return this.scanning;
  }

  private async scan(generation: number): Promise<void> {
    try {
      const uris = await vscode.workspace.findFiles('**/*.prompt', '**/node_modules/**', MAX_PROMPT_FILES);
      uris.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
      const files: PromptFileNode[] = [];
      for (const uri of uris) {
        await nextTurn();
        if (this.disposed || generation !== this.generation) return;
        files.push(await this.readFile(uri));
      }
      if (this.disposed || generation !== this.generation) return;
      this.files = files;
    } catch (error) {
      this.log.warn(`Presets: could not read the workspace's .prompt files: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!this.disposed) this.emitter.fire();
  }

  private async readFile(uri: vscode.Uri): Promise<PromptFileNode> {
    // An open editor's unsaved text is what the user sees: prefer it over the file on disk.
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (!open) {
      // Not read at all past what the parser could use: it would only report the file as too large.
      const { size } = await vscode.workspace.fs.stat(uri);
      if (size > MAX_PROMPT_FILE_BYTES_READ) return { uri, prompts: [], problems: 1, tooLargeBytes: size };
    }
    const text = open ? open.getText() : new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    const parsed = parsePromptFile(text);
    return { uri, prompts: parsed.prompts, problems: parsed.errors.length };
  }

  getTreeItem(node: PresetNode): vscode.TreeItem {
    switch (node.kind) {
      case 'preset': {
        const p = node.preset;
        const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
        item.id = `preset:${p.id}`;
        item.description = p.expectedCircuit;
        const lines = [
          `**${escapeMarkdown(p.label)}**`,
          '',
          markdownCodeBlock(p.prompt),
          '',
          `**Expected circuit:** ${escapeMarkdown(p.expectedCircuit)}`,
          '',
          `_${escapeMarkdown(p.source)}_`,
        ];
        if (p.target) lines.splice(3, 0, escapeMarkdown(`Target ${quoteToken(p.target)}${p.contrast ? `, contrast ${quoteToken(p.contrast)}` : ''}`), '');
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
        item.description =
          node.tooLargeBytes !== undefined
            ? `too large to list (${(node.tooLargeBytes / 1e6).toFixed(1)} MB)`
            : `${node.prompts.length} prompt${node.prompts.length === 1 ? '' : 's'}${node.problems > 0 ? ` · ${node.problems} problem${node.problems === 1 ? '' : 's'}` : ''}`;
        item.iconPath = vscode.ThemeIcon.File;
        item.contextValue = 'promptFile';
        return item;
      }
      case 'prompt': {
        const p = node.prompt;
        const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
        item.id = `prompt:${node.uri.toString()}#${p.name}`;
        item.description = p.text.length > 60 ? `${p.text.slice(0, 59)}…` : p.text;
        const tooltip = [markdownCodeBlock(p.text)];
        if (p.corrupt) tooltip.push('', 'Corrupted:', '', markdownCodeBlock(p.corrupt.text));
        item.tooltip = new vscode.MarkdownString(tooltip.join('\n'));
        item.iconPath = new vscode.ThemeIcon(p.errorCount > 0 ? 'warning' : 'symbol-string');
        item.contextValue = p.corrupt ? 'prompt.patchable' : 'prompt';
        item.command = { command: 'circuitTrace.analyzePrompt', title: 'Analyze', arguments: [node.uri.toString(), p.name] };
        return item;
      }
    }
  }

  getChildren(node?: PresetNode): PresetNode[] {
    if (!node) {
      // The first call starts reading the workspace's files; their nodes follow when it is done.
      if (!this.scanning) void this.startScan();
      return [...PRESETS.map((preset): PresetNode => ({ kind: 'preset', preset })), ...this.files.map((f): PresetNode => ({ kind: 'file', ...f }))];
    }
    if (node.kind === 'file') return node.prompts.map((prompt): PresetNode => ({ kind: 'prompt', uri: node.uri, prompt }));
    return [];
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.scanTimer);
    this.watcher.dispose();
    this.emitter.dispose();
  }
}
