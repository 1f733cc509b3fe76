/**
 * The part of the `vscode` API the Lab's host side uses, in memory: webview panels that record
 * what is posted to them and let a test deliver messages, hide and dispose them; the panel
 * serializer registry; the save dialog and file writes of exports.
 */
export class Disposable {
  constructor(private readonly onDispose: () => void = () => {}) {}
  dispose(): void {
    this.onDispose();
  }
}

type Listener<T> = (value: T) => void;

class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  get size(): number {
    return this.listeners.size;
  }
}

export class Uri {
  private constructor(readonly fsPath: string) {}
  static file(path: string): Uri {
    return new Uri(path);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri([base.fsPath, ...parts].join('/'));
  }
  toString(): string {
    return `webview://${this.fsPath}`;
  }
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}

export class FakePanel {
  readonly posted: unknown[] = [];
  private readonly messages = new Emitter<unknown>();
  private readonly viewState = new Emitter<unknown>();
  private readonly disposed = new Emitter<void>();
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

export const lab = {
  panels: [] as FakePanel[],
  serializers: new Map<string, { deserializeWebviewPanel(panel: FakePanel, state: unknown): Thenable<void> }>(),
  saveAnswer: undefined as Uri | undefined,
  written: new Map<string, Uint8Array>(),
  reset(): void {
    this.panels = [];
    this.serializers.clear();
    this.saveAnswer = undefined;
    this.written.clear();
  },
};

export const window = {
  registerWebviewPanelSerializer(viewType: string, serializer: { deserializeWebviewPanel(panel: FakePanel, state: unknown): Thenable<void> }) {
    lab.serializers.set(viewType, serializer);
    return new Disposable(() => lab.serializers.delete(viewType));
  },
  createWebviewPanel(viewType: string, title: string, showOptions: unknown) {
    const panel = new FakePanel(viewType, title, showOptions);
    lab.panels.push(panel);
    return panel;
  },
  async showSaveDialog() {
    return lab.saveAnswer;
  },
};

export const workspace = {
  workspaceFolders: [{ uri: Uri.file('/workspace') }],
  fs: {
    async writeFile(uri: Uri, bytes: Uint8Array) {
      lab.written.set(uri.fsPath, bytes);
    },
  },
};
