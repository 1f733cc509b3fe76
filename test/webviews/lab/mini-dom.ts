/**
 * Just enough DOM for rendering the Lab's preact views in Node (no browser, no DOM package): nodes,
 * elements with attributes, properties and a style object, text nodes, bubbling events with
 * preventDefault, focus and document.activeElement, getElementById, and the globals the views touch
 * (ResizeObserver that never reports a size, so canvases stay undrawn; requestAnimationFrame).
 * Tests find elements with `all(root, predicate)` rather than CSS selectors. Importing this module
 * also makes `.css` imports (the views import their stylesheets for esbuild) load as nothing.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require.extensions['.css'] = (module) => {
  module.exports = {};
};

export class MiniEvent {
  target: MiniNode | null = null;
  currentTarget: MiniNode | null = null;
  defaultPrevented = false;
  private stopped = false;
  constructor(
    readonly type: string,
    init: Record<string, unknown> = {},
  ) {
    Object.assign(this, init);
  }
  preventDefault(): void {
    this.defaultPrevented = true;
  }
  stopPropagation(): void {
    this.stopped = true;
  }
  get propagationStopped(): boolean {
    return this.stopped;
  }
}

type Listener = (this: MiniNode, e: MiniEvent) => unknown;

export class MiniNode {
  parentNode: MiniElement | null = null;
  readonly childNodes: MiniNode[] = [];
  private listeners = new Map<string, Listener[]>();
  constructor(readonly nodeType: number) {}

  get ownerDocument(): MiniDocument {
    return miniDocument;
  }
  get firstChild(): MiniNode | null {
    return this.childNodes[0] ?? null;
  }
  get lastChild(): MiniNode | null {
    return this.childNodes[this.childNodes.length - 1] ?? null;
  }
  get nextSibling(): MiniNode | null {
    const siblings = this.parentNode?.childNodes;
    return siblings ? (siblings[siblings.indexOf(this) + 1] ?? null) : null;
  }
  get previousSibling(): MiniNode | null {
    const siblings = this.parentNode?.childNodes;
    return siblings ? (siblings[siblings.indexOf(this) - 1] ?? null) : null;
  }
  get textContent(): string {
    return this.childNodes.map((c) => c.textContent).join('');
  }
  appendChild(node: MiniNode): MiniNode {
    return this.insertBefore(node, null);
  }
  insertBefore(node: MiniNode, ref: MiniNode | null): MiniNode {
    node.remove();
    const i = ref ? this.childNodes.indexOf(ref) : -1;
    if (i < 0) this.childNodes.push(node);
    else this.childNodes.splice(i, 0, node);
    node.parentNode = this as unknown as MiniElement;
    return node;
  }
  removeChild(node: MiniNode): MiniNode {
    const i = this.childNodes.indexOf(node);
    if (i >= 0) this.childNodes.splice(i, 1);
    node.parentNode = null;
    return node;
  }
  remove(): void {
    this.parentNode?.removeChild(this);
  }
  addEventListener(type: string, listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    if (!list.includes(listener)) list.push(listener);
    this.listeners.set(type, list);
  }
  removeEventListener(type: string, listener: Listener): void {
    this.listeners.set(
      type,
      (this.listeners.get(type) ?? []).filter((l) => l !== listener),
    );
  }
  /** Dispatches to this node and its ancestors (bubbling); returns false when a listener prevented the default. */
  dispatchEvent(event: MiniEvent): boolean {
    event.target = this;
    const path: MiniNode[] = [this];
    for (let n = this.parentNode; n; n = n.parentNode) path.push(n);
    for (const node of path) {
      if (event.propagationStopped) break;
      event.currentTarget = node;
      for (const listener of node.listeners.get(event.type) ?? []) listener.call(node, event);
    }
    return !event.defaultPrevented;
  }
}

export class MiniText extends MiniNode {
  constructor(public data: string) {
    super(3);
  }
  override get textContent(): string {
    return String(this.data);
  }
}

export class MiniElement extends MiniNode {
  readonly attributes = new Map<string, string>();
  readonly style: Record<string, unknown> & { setProperty(k: string, v: string): void; cssText: string } = {
    cssText: '',
    setProperty(k: string, v: string) {
      (this as Record<string, unknown>)[k] = v;
    },
  };
  // Properties preact sets directly (`name in dom`).
  value = '';
  checked = false;
  disabled = false;
  id = '';
  constructor(
    readonly localName: string,
    readonly namespaceURI: string | null,
  ) {
    super(1);
  }
  get tagName(): string {
    return this.localName.toUpperCase();
  }
  get nodeName(): string {
    return this.tagName;
  }
  setAttribute(name: string, value: unknown): void {
    this.attributes.set(name, String(value));
    if (name === 'id') this.id = String(value);
  }
  getAttribute(name: string): string | null {
    if (name === 'id' && this.id) return this.id;
    return this.attributes.get(name) ?? null;
  }
  hasAttribute(name: string): boolean {
    return this.attributes.has(name);
  }
  removeAttribute(name: string): void {
    this.attributes.delete(name);
  }
  focus(): void {
    miniDocument.activeElement = this;
    this.dispatchEvent(new MiniEvent('focus'));
  }
  blur(): void {
    if (miniDocument.activeElement === this) miniDocument.activeElement = miniDocument.body;
  }
  getContext(): null {
    return null;
  }
  getBoundingClientRect() {
    return { left: 0, top: 0, right: 0, bottom: 0, width: 0, height: 0, x: 0, y: 0 };
  }
}

export class MiniDocument {
  body = new MiniElement('body', null);
  activeElement: MiniElement = this.body;
  createElement(name: string): MiniElement {
    return new MiniElement(name, null);
  }
  createElementNS(ns: string | null, name: string): MiniElement {
    return new MiniElement(name, ns);
  }
  createTextNode(text: string): MiniText {
    return new MiniText(text);
  }
  getElementById(id: string): MiniElement | null {
    return all(this.body, (e) => e.id === id || e.getAttribute('id') === id)[0] ?? null;
  }
}

export const miniDocument = new MiniDocument();

/** Every element under `root` (depth first) that satisfies `predicate`. */
export function all(root: MiniNode, predicate: (e: MiniElement) => boolean): MiniElement[] {
  const out: MiniElement[] = [];
  const walk = (n: MiniNode): void => {
    if (n instanceof MiniElement && predicate(n)) out.push(n);
    for (const c of n.childNodes) walk(c);
  };
  walk(root);
  return out;
}

/** The attribute or the property (preact sets some as properties). */
export function attr(e: MiniElement, name: string): string | null {
  return e.getAttribute(name);
}

/** Installs the document and the browser globals the views use (once per test process). */
export function installMiniDom(): void {
  const g = globalThis as Record<string, unknown>;
  g.document = miniDocument;
  g.window = globalThis;
  g.ResizeObserver = class {
    observe(): void {}
    unobserve(): void {}
    disconnect(): void {}
  };
  g.requestAnimationFrame = (cb: (t: number) => void) => setTimeout(() => cb(Date.now()), 0);
  g.cancelAnimationFrame = (id: ReturnType<typeof setTimeout>) => clearTimeout(id);
  g.devicePixelRatio = 1;
  g.getComputedStyle = () => ({ getPropertyValue: () => '' });
}

/** Lets preact flush its rerenders and effects (effects wait for a frame, or 35 ms). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setTimeout(r, 40));
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}

export function press(e: MiniElement, key: string): MiniEvent {
  const event = new MiniEvent('keydown', { key });
  e.dispatchEvent(event);
  return event;
}

export function click(e: MiniElement): void {
  e.dispatchEvent(new MiniEvent('click'));
}

/** Types into an input or select: sets its value and fires input and change. */
export function type(e: MiniElement, value: string): void {
  e.value = value;
  e.dispatchEvent(new MiniEvent('input'));
  e.dispatchEvent(new MiniEvent('change'));
}

// Installed on import, before preact's hooks module reads whether requestAnimationFrame exists.
installMiniDom();
