/**
 * Validates what a Lab webview sends. A webview runs web content, so its messages are untrusted
 * input: every field is checked for type and range, unknown fields are dropped, and the host
 * only ever acts on the clean copy returned here. One validator per message type.
 *
 * Deliberately free of `vscode` imports so that it is unit tested in plain Node.
 */
import { PATCHABLE_ALIASES } from '../../engine/hooks/registry.js';
import type { PatchKind } from '../../protocol/analysis.js';
import type { PatchRequest, TokenRef } from '../../protocol/engine.js';
import { LAB_ATTRIBUTION_METHODS, type AttributionMapRequest, type AttributionPrompts, type PathPatchMapRequest } from '../../protocol/attribution.js';
import type { RunAttributionMessage, RunPathPatchMessage } from '../../protocol/attribution-messages.js';
import type { MeasureCircuitSizeMessage } from '../../protocol/circuit-messages.js';
import {
  MAX_FEATURE_EDITS,
  MAX_GRAPH_PINS,
  type ExportGraphMessage,
  type RebuildGraphMessage,
  type SteerFeaturesMessage,
} from '../../protocol/feature-messages.js';
import type { FeatureEdit } from '../../protocol/features.js';
import {
  isLabViewId,
  type CheckEdgeMessage,
  type ExportMessage,
  type LabPanelContent,
  type LabPersistedState,
  type LabSelection,
  type LogMessage,
  type OpenViewMessage,
  type ReadyMessage,
  type RequestTraceMessage,
  type RunPatchMessage,
  type SelectionChangedMessage,
  type WebviewToHost,
} from '../../protocol/webview-messages.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

/** Bounds that keep a hostile or buggy webview from making the host allocate or loop without limit. */
export const LIMITS = {
  /** Selection indices (layers, heads, positions) are far below this in any supported model. */
  maxIndex: 1_000_000,
  maxHistoryIdLength: 200,
  maxPromptLength: 100_000,
  maxTokenIds: 100_000,
  maxTokenId: 2 ** 31 - 1,
  maxTokenTextLength: 1_000,
  maxPngBytes: 64 * 1024 * 1024,
  maxSvgLength: 32 * 1024 * 1024,
  maxLogLength: 10_000,
} as const;

const PATCH_KINDS: readonly PatchKind[] = ['heads-last', 'heads-all', 'resid', 'attn', 'mlp', 'single'];
/** The hooks a patch may replace: the hook registry's patchable aliases. */
const PATCH_HOOKS = PATCHABLE_ALIASES;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) fail(`${what} must be an object`);
  return value;
}

function index(value: unknown, what: string, max: number = LIMITS.maxIndex): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(`${what} must be an integer in 0..${max}`);
  }
  return value;
}

function optionalIndex(value: unknown, what: string): number | undefined {
  return value === undefined ? undefined : index(value, what);
}

function text(value: unknown, what: string, maxLength: number, allowEmpty = false): string {
  if (typeof value !== 'string') fail(`${what} must be a string`);
  if (!allowEmpty && value.length === 0) fail(`${what} must not be empty`);
  if (value.length > maxLength) fail(`${what} is longer than ${maxLength} characters`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(`${what} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function selection(value: unknown): LabSelection {
  const r = record(value, 'selection');
  const out: LabSelection = {};
  const layer = optionalIndex(r.layer, 'selection.layer');
  const head = optionalIndex(r.head, 'selection.head');
  const position = optionalIndex(r.position, 'selection.position');
  if (layer !== undefined) out.layer = layer;
  if (head !== undefined) out.head = head;
  if (position !== undefined) out.position = position;
  return out;
}

function historyId(value: unknown): string {
  return text(value, 'historyId', LIMITS.maxHistoryIdLength);
}

function panelContent(value: unknown): LabPanelContent {
  if (value === 'lab' || isLabViewId(value)) return value;
  return fail('content must be "lab" or a view id');
}

function persistedState(value: unknown): LabPersistedState {
  const r = record(value, 'state');
  if (r.version !== 1) fail('state.version must be 1');
  return {
    version: 1,
    content: panelContent(r.content),
    historyId: r.historyId === null || r.historyId === undefined ? null : historyId(r.historyId),
    selection: r.selection === undefined ? {} : selection(r.selection),
  };
}

function tokenIds(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) fail(`${what} must be an array of token ids`);
  if (value.length === 0) fail(`${what} must not be empty`);
  if (value.length > LIMITS.maxTokenIds) fail(`${what} has more than ${LIMITS.maxTokenIds} ids`);
  return value.map((id, i) => index(id, `${what}[${i}]`, LIMITS.maxTokenId));
}

function tokenRef(value: unknown, what: string): TokenRef {
  const r = record(value, what);
  if ('id' in r && r.id !== undefined) return { id: index(r.id, `${what}.id`, LIMITS.maxTokenId) };
  if ('text' in r && r.text !== undefined) return { text: text(r.text, `${what}.text`, LIMITS.maxTokenTextLength) };
  return fail(`${what} must have a text or an id`);
}

function patchRequest(value: unknown): PatchRequest {
  const r = record(value, 'request');
  const out: PatchRequest = { target: tokenRef(r.target, 'request.target'), kind: oneOf(r.kind, PATCH_KINDS, 'request.kind') };
  if (r.clean !== undefined) out.clean = text(r.clean, 'request.clean', LIMITS.maxPromptLength);
  if (r.corrupt !== undefined) out.corrupt = text(r.corrupt, 'request.corrupt', LIMITS.maxPromptLength);
  if (r.cleanIds !== undefined) out.cleanIds = tokenIds(r.cleanIds, 'request.cleanIds');
  if (r.corruptIds !== undefined) out.corruptIds = tokenIds(r.corruptIds, 'request.corruptIds');
  if (out.clean === undefined && out.cleanIds === undefined) fail('request needs a clean prompt (clean or cleanIds)');
  if (out.corrupt === undefined && out.corruptIds === undefined) fail('request needs a corrupt prompt (corrupt or corruptIds)');
  if (r.contrast !== undefined) out.contrast = tokenRef(r.contrast, 'request.contrast');
  if (r.position !== undefined) out.position = index(r.position, 'request.position');
  if (r.component !== undefined) {
    const c = record(r.component, 'request.component');
    out.component = { hook: oneOf(c.hook, PATCH_HOOKS, 'request.component.hook'), layer: index(c.layer, 'request.component.layer') };
    if (c.head !== undefined) out.component.head = index(c.head, 'request.component.head');
    if (c.position !== undefined) out.component.position = index(c.position, 'request.component.position');
  }
  if (out.kind === 'single' && out.component === undefined) fail('request.kind "single" needs a component');
  return out;
}

/** The prompts, BOS rule, target and contrast of an attribution or path-patching request. */
function attributionPrompts(r: Record<string, unknown>): AttributionPrompts {
  const out: AttributionPrompts = { target: tokenRef(r.target, 'request.target') };
  if (r.clean !== undefined) out.clean = text(r.clean, 'request.clean', LIMITS.maxPromptLength);
  if (r.corrupt !== undefined) out.corrupt = text(r.corrupt, 'request.corrupt', LIMITS.maxPromptLength);
  if (r.cleanIds !== undefined) out.cleanIds = tokenIds(r.cleanIds, 'request.cleanIds');
  if (r.corruptIds !== undefined) out.corruptIds = tokenIds(r.corruptIds, 'request.corruptIds');
  if (out.clean === undefined && out.cleanIds === undefined) fail('request needs a clean prompt (clean or cleanIds)');
  if (out.corrupt === undefined && out.corruptIds === undefined) fail('request needs a corrupt prompt (corrupt or corruptIds)');
  if (r.contrast !== undefined) out.contrast = tokenRef(r.contrast, 'request.contrast');
  if (r.prependBos !== undefined) out.prependBos = typeof r.prependBos === 'boolean' ? r.prependBos : fail('request.prependBos must be a boolean');
  return out;
}

function attributionRequest(value: unknown): AttributionMapRequest {
  const r = record(value, 'request');
  const out: AttributionMapRequest = { ...attributionPrompts(r), method: oneOf(r.method, LAB_ATTRIBUTION_METHODS, 'request.method') };
  if (r.steps !== undefined) out.steps = index(r.steps, 'request.steps', 100);
  return out;
}

/** Path patching's receivers: `logits`, or a comma-separated list of LxHy:q|k|v. */
function pathPatchRequest(value: unknown): PathPatchMapRequest {
  const r = record(value, 'request');
  const receivers = text(r.receivers, 'request.receivers', 2000).replace(/\s+/g, '');
  if (!/^(logits|L\d+H\d+:[qkv](,L\d+H\d+:[qkv])*)$/.test(receivers)) fail('request.receivers must be "logits" or heads\' inputs such as "L1H0:k,L1H1:q"');
  return { ...attributionPrompts(r), receivers };
}

/** A finite number no larger than `max` in magnitude. */
function finite(value: unknown, what: string, max = 1e6): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > max) fail(`${what} must be a finite number within ±${max}`);
  return value;
}

/** Prompt positions: a non-empty array of indices. */
function positionList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > LIMITS.maxTokenIds) fail(`${what} must be a non-empty array of positions`);
  return value.map((p, i) => index(p, `${what}[${i}]`));
}

/** One feature edit of a steering request: layer, feature, optional positions, and set / scale / add. */
function featureEdit(value: unknown, what: string): FeatureEdit {
  const r = record(value, what);
  const where = { layer: index(r.layer, `${what}.layer`), feature: index(r.feature, `${what}.feature`, LIMITS.maxTokenId) };
  const positions = r.positions === undefined ? undefined : positionList(r.positions, `${what}.positions`);
  const at = positions ? { ...where, positions } : where;
  const kind = oneOf(r.kind, ['set', 'scale', 'add'] as const, `${what}.kind`);
  if (kind === 'scale') return { ...at, kind, factor: finite(r.factor, `${what}.factor`) };
  return { ...at, kind, value: finite(r.value, `${what}.value`) };
}

/** A pruning threshold: a share of influence in (0, 1]. */
function share(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) fail(`${what} must be a number in (0, 1]`);
  return value;
}

/** An attribution graph's node id as circuit-tracer writes it (`3_1234_5`, `E_262_0`). */
function graphNodeId(value: unknown, what: string): string {
  const id = text(value, what, 64);
  if (!/^(?:E|\d+)_\d+_\d+$/.test(id)) fail(`${what} is not an attribution graph node id`);
  return id;
}

function graphNodeIds(value: unknown, what: string, allowEmpty: boolean): string[] {
  if (!Array.isArray(value) || value.length > MAX_GRAPH_PINS || (!allowEmpty && value.length === 0))
    fail(`${what} must be an array of at most ${MAX_GRAPH_PINS} node ids`);
  return value.map((id, i) => graphNodeId(id, `${what}[${i}]`));
}

/** A circuit node's name: embed, logits, mlp5, L5H1, L5H1.q, L5KV1.k. */
function nodeName(value: unknown, what: string): string {
  const name = text(value, what, 40);
  if (!/^(embed|logits|mlp\d+|L\d+(H|KV)\d+(\.[qkv])?)$/.test(name)) fail(`${what} must be a circuit node name (embed, L5H1, L5H1.q, mlp5, logits)`);
  return name;
}

function pngBytes(value: unknown): Uint8Array {
  const bytes = value instanceof Uint8Array ? value : value instanceof ArrayBuffer ? new Uint8Array(value) : fail('PNG data must be bytes');
  if (bytes.byteLength > LIMITS.maxPngBytes) fail(`PNG data is larger than ${LIMITS.maxPngBytes} bytes`);
  if (bytes.byteLength < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) fail('PNG data does not start with the PNG signature');
  return bytes;
}

function svgText(value: unknown): string {
  const svg = text(value, 'SVG data', LIMITS.maxSvgLength);
  const start = svg.replace(/^\s*(<\?xml[^>]*\?>\s*)?/, '');
  if (!start.startsWith('<svg')) fail('SVG data must be an <svg> document');
  return svg;
}

// ---------------------------------------------------------------- one validator per message type

const validators: { [K in WebviewToHost['type']]: (r: Record<string, unknown>) => Extract<WebviewToHost, { type: K }> } = {
  ready: (r): ReadyMessage => ({ type: 'ready', restore: r.restore === null || r.restore === undefined ? null : persistedState(r.restore) }),
  selectionChanged: (r): SelectionChangedMessage => ({ type: 'selectionChanged', selection: selection(r.selection) }),
  openView: (r): OpenViewMessage => {
    if (!isLabViewId(r.view)) fail('view must be a Lab view id');
    return { type: 'openView', view: r.view };
  },
  runPatch: (r): RunPatchMessage => ({
    type: 'runPatch',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    request: patchRequest(r.request),
  }),
  requestTrace: (r): RequestTraceMessage => ({
    type: 'requestTrace',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    historyId: historyId(r.historyId),
    metric: oneOf(r.metric, ['logit', 'logit_diff'] as const, 'metric'),
  }),
  checkEdge: (r): CheckEdgeMessage => ({
    type: 'checkEdge',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    from: nodeName(r.from, 'from'),
    to: nodeName(r.to, 'to'),
  }),
  measureCircuitSize: (r): MeasureCircuitSizeMessage => {
    const edges = index(r.edges, 'edges');
    if (edges < 1) fail('edges must be at least 1');
    return { type: 'measureCircuitSize', requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER), edges };
  },
  runAttribution: (r): RunAttributionMessage => ({
    type: 'runAttribution',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    request: attributionRequest(r.request),
  }),
  runPathPatch: (r): RunPathPatchMessage => ({
    type: 'runPathPatch',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    request: pathPatchRequest(r.request),
  }),
  steerFeatures: (r): SteerFeaturesMessage => {
    if (!Array.isArray(r.edits) || r.edits.length === 0 || r.edits.length > MAX_FEATURE_EDITS) fail(`edits must be an array of 1..${MAX_FEATURE_EDITS} edits`);
    const out: SteerFeaturesMessage = {
      type: 'steerFeatures',
      requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
      edits: r.edits.map((e, i) => featureEdit(e, `edits[${i}]`)),
    };
    if (r.position !== undefined) out.position = index(r.position, 'position');
    return out;
  },
  rebuildGraph: (r): RebuildGraphMessage => ({
    type: 'rebuildGraph',
    requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
    nodeThreshold: share(r.nodeThreshold, 'nodeThreshold'),
    edgeThreshold: share(r.edgeThreshold, 'edgeThreshold'),
  }),
  exportGraph: (r): ExportGraphMessage => {
    if (!Array.isArray(r.supernodes) || r.supernodes.length > MAX_GRAPH_PINS) fail(`supernodes must be an array of at most ${MAX_GRAPH_PINS} groups`);
    return {
      type: 'exportGraph',
      requestId: index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER),
      pinnedIds: graphNodeIds(r.pinnedIds, 'pinnedIds', true),
      supernodes: r.supernodes.map((s, i) => {
        if (!Array.isArray(s) || s.length < 2) fail(`supernodes[${i}] must be [name, ...node ids]`);
        const [name, ...members] = s as unknown[];
        return [text(name, `supernodes[${i}][0]`, 80), ...graphNodeIds(members, `supernodes[${i}]`, false)];
      }),
    };
  },
  export: (r): ExportMessage => {
    const requestId = index(r.requestId, 'requestId', Number.MAX_SAFE_INTEGER);
    const view = panelContent(r.view);
    const format = oneOf(r.format, ['png', 'svg', 'json'] as const, 'format');
    if (format === 'json') {
      if (r.data !== undefined) fail('a JSON export carries no data (the host serialises the Lab data itself)');
      return { type: 'export', requestId, view, format };
    }
    return { type: 'export', requestId, view, format, data: format === 'png' ? pngBytes(r.data) : svgText(r.data) };
  },
  log: (r): LogMessage => ({
    type: 'log',
    level: oneOf(r.level, ['info', 'warn', 'error'] as const, 'level'),
    message: typeof r.message === 'string' ? r.message.slice(0, LIMITS.maxLogLength) : fail('message must be a string'),
  }),
};

/** Checks one message from a webview; returns a clean copy or says what is wrong with it. */
export function validateWebviewMessage(raw: unknown): Validation<WebviewToHost> {
  try {
    const r = record(raw, 'message');
    const type = r.type;
    if (typeof type !== 'string' || !Object.hasOwn(validators, type))
      return { ok: false, error: `unknown message type ${JSON.stringify(String(type)).slice(0, 60)}` };
    return { ok: true, value: validators[type as WebviewToHost['type']](r) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: error.message };
    throw error;
  }
}

/** Checks the state a WebviewPanelSerializer hands back (it was written by the webview, so untrusted too). */
export function validatePersistedState(raw: unknown): Validation<LabPersistedState> {
  try {
    return { ok: true, value: persistedState(raw) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: error.message };
    throw error;
  }
}

/** Checks a selection passed in by the extension (same rules as the webview's). */
export function validateSelection(raw: unknown): Validation<LabSelection> {
  try {
    return { ok: true, value: selection(raw) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: error.message };
    throw error;
  }
}
