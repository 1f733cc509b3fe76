/**
 * A small in-memory stand-in for the `vscode` module: enough of the API for the extension to
 * activate in plain Node and for a test to drive its commands, CodeLens and hovers. It records
 * what the extension registers and shows (`fake`), so tests assert on behaviour, not on mocks'
 * call counts. Only what src/extension uses is here; anything else throws when touched.
 */
import { join } from 'node:path';

export class Disposable {
  constructor(private readonly onDispose: () => void = () => {}) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private readonly listeners = new Set<(value: T) => void>();
  readonly event = (listener: (value: T) => void): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
  get size(): number {
    return this.listeners.size;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(start: Position, end: Position) {
    this.start = start;
    this.end = end;
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
  get isEmpty(): boolean {
    return this.anchor.line === this.active.line && this.anchor.character === this.active.character;
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(path: string): Uri {
    return new Uri('file', path);
  }
  static parse(value: string): Uri {
    if (value.startsWith('file://')) return new Uri('file', decodeURIComponent(value.slice('file://'.length)));
    const colon = value.indexOf(':');
    return new Uri(value.slice(0, colon), value.slice(colon + 1));
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, join(base.fsPath, ...parts));
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return this.scheme === 'file' ? `file://${this.fsPath}` : `${this.scheme}:${this.fsPath}`;
  }
}

export class MarkdownString {
  constructor(
    public value = '',
    readonly supportThemeIcons = false,
  ) {}
}

export class ThemeIcon {
  static readonly File = new ThemeIcon('file');
  constructor(readonly id: string) {}
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string | MarkdownString;
  contextValue?: string;
  iconPath?: ThemeIcon;
  command?: { command: string; title: string; arguments?: unknown[] };
  resourceUri?: Uri;
  accessibilityInformation?: { label: string; role?: string };
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: { title: string; command: string; tooltip?: string; arguments?: unknown[] },
  ) {}
}

export class Hover {
  constructor(
    readonly contents: MarkdownString,
    readonly range?: Range,
  ) {}
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}

export class Diagnostic {
  source?: string;
  code?: string;
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: DiagnosticSeverity,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum QuickPickItemKind {
  Separator = -1,
  Default = 0,
}

/** A text document held in memory. */
export class FakeDocument {
  version = 1;
  isClosed = false;
  constructor(
    readonly uri: Uri,
    public languageId: string,
    private text: string,
  ) {}
  getText(range?: Range): string {
    if (!range) return this.text;
    const lines = this.text.split('\n');
    const offset = (p: Position): number => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
    return this.text.slice(offset(range.start), offset(range.end));
  }
  setText(text: string): void {
    this.text = text;
    this.version++;
    fake.documentChanged.fire({ document: this });
  }
}

interface Message {
  kind: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
  /** Shown as a modal dialog ({ modal: true }). */
  modal: boolean;
}

type Provider = { selector: unknown; provider: unknown };

type PanelSerializer = { deserializeWebviewPanel(panel: FakePanel, state: unknown): Thenable<void> };

/** A webview panel that records what is posted to it and lets a test deliver messages, hide and dispose it. */
export class FakePanel {
  readonly posted: unknown[] = [];
  private readonly messages = new EventEmitter<unknown>();
  private readonly viewState = new EventEmitter<unknown>();
  private readonly disposed = new EventEmitter<void>();
  visible = true;
  isDisposed = false;
  reveals = 0;
  iconPath: unknown;
  readonly webview = {
    options: {} as { enableScripts?: boolean; localResourceRoots?: Uri[] },
    html: '',
    cspSource: 'https://fake.vscode-cdn.net',
    asWebviewUri: (u: Uri) => u,
    onDidReceiveMessage: this.messages.event,
    postMessage: async (message: unknown) => {
      this.posted.push(message);
      return true;
    },
  };
  constructor(
    readonly viewType: string,
    public title: string,
    readonly showOptions: unknown,
  ) {}
  readonly onDidChangeViewState = this.viewState.event;
  readonly onDidDispose = this.disposed.event;
  reveal(): void {
    this.reveals++;
  }
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.disposed.fire();
  }
  /** A message from the page. */
  deliver(message: unknown): void {
    this.messages.fire(message);
  }
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.viewState.fire({ webviewPanel: this });
  }
  /** Posted messages of one type. */
  sent(type: string): Record<string, unknown>[] {
    return this.posted.filter((m): m is Record<string, unknown> => (m as { type?: string }).type === type);
  }
  listenerCount(): number {
    return this.messages.size;
  }
}

/** The Lab's panels, their serializers, the save dialog's answer and the bytes exports wrote. */
export const lab = {
  panels: [] as FakePanel[],
  serializers: new Map<string, PanelSerializer>(),
  saveAnswer: undefined as Uri | undefined,
  written: new Map<string, Uint8Array>(),
  reset(): void {
    this.panels = [];
    this.serializers.clear();
    this.saveAnswer = undefined;
    this.written.clear();
  },
};

/** What the extension did, and the knobs a test turns. */
export const fake = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  codeLensProviders: [] as Provider[],
  hoverProviders: [] as Provider[],
  diagnostics: new Map<string, Diagnostic[]>(),
  messages: [] as Message[],
  treeViews: new Map<string, { treeDataProvider: unknown; message?: string }>(),
  statusItems: [] as { text: string; tooltip?: unknown; command?: string }[],
  webviewPanels: [] as { viewType: string; title: string }[],
  contexts: new Map<string, unknown>(),
  writtenFiles: new Map<string, string>(),
  /** Every disposable returned by a register/create call, to check they reach context.subscriptions. */
  registrations: [] as { dispose(): unknown }[],
  documents: [] as FakeDocument[],
  activeTextEditor: undefined as { document: FakeDocument; selection: Selection } | undefined,
  configuration: new Map<string, unknown>(),
  configChanged: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  documentChanged: new EventEmitter<{ document: FakeDocument }>(),
  /** Answer of the next message with items (undefined: dismissed). */
  nextMessageAnswer: undefined as string | undefined,
  reset(): void {
    this.commands.clear();
    this.codeLensProviders = [];
    this.hoverProviders = [];
    this.diagnostics.clear();
    this.messages = [];
    this.treeViews.clear();
    this.statusItems = [];
    this.webviewPanels = [];
    this.contexts.clear();
    this.writtenFiles.clear();
    this.registrations = [];
    this.documents = [];
    this.activeTextEditor = undefined;
    this.configuration.clear();
  },
};

function registration(onDispose: () => void = () => {}): Disposable {
  const d = new Disposable(onDispose);
  fake.registrations.push(d);
  return d;
}

function message(kind: Message['kind']) {
  return async (text: string, ...rest: unknown[]): Promise<string | undefined> => {
    const items = rest.filter((r): r is string => typeof r === 'string');
    const modal = rest.some((r) => typeof r === 'object' && r !== null && (r as { modal?: unknown }).modal === true);
    fake.messages.push({ kind, text, items, modal });
    const answer = fake.nextMessageAnswer;
    fake.nextMessageAnswer = undefined;
    return answer !== undefined && items.includes(answer) ? answer : undefined;
  };
}

const noEvent = (): Disposable => new Disposable();

function logChannel(): Record<string, unknown> {
  const lines: string[] = [];
  const log = (level: string) => (text: string) => lines.push(`${level} ${text}`);
  return {
    lines,
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    debug: log('debug'),
    trace: log('trace'),
    show: () => {},
    dispose: () => {},
    append: () => {},
    appendLine: log('line'),
  };
}

export const window = {
  get activeTextEditor() {
    return fake.activeTextEditor;
  },
  createOutputChannel: () => logChannel(),
  createStatusBarItem: () => {
    const item = {
      text: '',
      tooltip: undefined as unknown,
      command: undefined as string | undefined,
      name: '',
      show: () => {},
      hide: () => {},
      dispose: () => {},
    };
    fake.statusItems.push(item);
    return item;
  },
  createTreeView: (id: string, options: { treeDataProvider: unknown }) => {
    const view = {
      treeDataProvider: options.treeDataProvider,
      message: undefined as string | undefined,
      visible: true,
      reveal: async () => {},
      dispose: () => void fake.treeViews.delete(id),
    };
    fake.treeViews.set(id, view);
    fake.registrations.push(view);
    return view;
  },
  // The Lab controller keeps its serializer registration inside itself (it is in subscriptions).
  registerWebviewPanelSerializer(viewType: string, serializer: PanelSerializer) {
    lab.serializers.set(viewType, serializer);
    return new Disposable(() => lab.serializers.delete(viewType));
  },
  createWebviewPanel(viewType: string, title: string, showOptions?: unknown) {
    const panel = new FakePanel(viewType, title, showOptions);
    lab.panels.push(panel);
    fake.webviewPanels.push({ viewType, title });
    return panel;
  },
  withProgress: async <T>(
    _options: unknown,
    task: (
      progress: { report(v: unknown): void },
      token: { isCancellationRequested: boolean; onCancellationRequested: (l: () => void) => Disposable },
    ) => Promise<T>,
  ): Promise<T> => task({ report: () => {} }, { isCancellationRequested: false, onCancellationRequested: () => new Disposable() }),
  showInformationMessage: message('info'),
  showWarningMessage: message('warning'),
  showErrorMessage: message('error'),
  setStatusBarMessage: () => new Disposable(),
  showInputBox: async () => undefined,
  showQuickPick: async () => undefined,
  showSaveDialog: async () => lab.saveAnswer,
  showOpenDialog: async () => undefined,
  showTextDocument: async () => undefined,
};

export const workspace = {
  isTrusted: true,
  workspaceFolders: undefined,
  get textDocuments() {
    return fake.documents;
  },
  getConfiguration: () => ({
    get: (key: string) => fake.configuration.get(key),
    inspect: (key: string) => ({ key, globalValue: fake.configuration.get(key) }),
    update: async (key: string, value: unknown) => {
      fake.configuration.set(key, value);
      fake.configChanged.fire({ affectsConfiguration: (s: string) => s === 'circuitTrace' || s === `circuitTrace.${key}` });
    },
  }),
  onDidChangeConfiguration: (l: (e: { affectsConfiguration(section: string): boolean }) => void) => fake.configChanged.event(l),
  onDidChangeTextDocument: (l: (e: { document: FakeDocument }) => void) => fake.documentChanged.event(l),
  onDidOpenTextDocument: noEvent,
  onDidCloseTextDocument: noEvent,
  onDidGrantWorkspaceTrust: noEvent,
  openTextDocument: async (uri: Uri | { language: string; content: string }) => {
    if (uri instanceof Uri) {
      const doc = fake.documents.find((d) => d.uri.toString() === uri.toString());
      if (!doc) throw new Error(`no document ${uri.toString()}`);
      return doc;
    }
    const doc = new FakeDocument(Uri.parse(`untitled:Untitled-${fake.documents.length + 1}`), uri.language, uri.content);
    fake.documents.push(doc);
    return doc;
  },
  findFiles: async () => [],
  createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidChange: noEvent, onDidDelete: noEvent, dispose: () => {} }),
  asRelativePath: (u: Uri | string) => (typeof u === 'string' ? u : u.fsPath),
  fs: {
    readFile: async () => new Uint8Array(),
    writeFile: async (uri: Uri, data: Uint8Array) => {
      fake.writtenFiles.set(uri.toString(), new TextDecoder().decode(data));
      lab.written.set(uri.fsPath, data);
    },
  },
};

export const languages = {
  registerCodeLensProvider: (selector: unknown, provider: unknown) => {
    fake.codeLensProviders.push({ selector, provider });
    return registration();
  },
  registerHoverProvider: (selector: unknown, provider: unknown) => {
    fake.hoverProviders.push({ selector, provider });
    return registration();
  },
  createDiagnosticCollection: () => ({
    set: (uri: Uri, diagnostics: Diagnostic[]) => fake.diagnostics.set(uri.toString(), diagnostics),
    delete: (uri: Uri) => fake.diagnostics.delete(uri.toString()),
    dispose: () => fake.diagnostics.clear(),
  }),
};

export const commands = {
  registerCommand: (id: string, handler: (...args: unknown[]) => unknown) => {
    if (fake.commands.has(id)) throw new Error(`command ${id} registered twice`);
    fake.commands.set(id, handler);
    return registration(() => fake.commands.delete(id));
  },
  executeCommand: async (id: string, ...args: unknown[]) => {
    if (id === 'setContext') {
      fake.contexts.set(args[0] as string, args[1]);
      return undefined;
    }
    const handler = fake.commands.get(id);
    return handler ? handler(...args) : undefined;
  },
};

export const env = { language: 'en' };

/** The minimal ExtensionContext the extension uses. */
export function fakeContext(extensionPath: string, storagePath: string): Record<string, unknown> {
  const state = new Map<string, unknown>();
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionUri: Uri.file(extensionPath),
    globalStorageUri: Uri.file(storagePath),
    extension: { packageJSON: { version: '0.0.0-test' } },
    asAbsolutePath: (p: string) => join(extensionPath, p),
    workspaceState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => void state.set(k, v), keys: () => [...state.keys()] },
    globalState: { get: () => undefined, update: async () => {}, keys: () => [] },
  };
}
