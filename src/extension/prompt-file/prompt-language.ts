/**
 * Language features of `.prompt` files: CodeLens above each prompt, hovers on the tokens of an
 * analysed prompt, and diagnostics. All scoped to `{ language: 'prompt' }`. Results are looked up
 * by analysis key (prompt text + traced tokens + model), so an edit or a model switch hides stale
 * lenses and hovers instead of showing a result of another text.
 */
import * as vscode from 'vscode';
import type { TokenInfo } from '../../protocol/analysis.js';
import type { EngineApi } from '../../protocol/engine.js';
import type { AnalysisSession } from '../analysis-session.js';
import type { ModelManager } from '../model/model-manager.js';
import { prependBosRequest, SETTINGS_SECTION, type Settings } from '../settings.js';
import { circuitLens, promptLenses, type LensAction } from './codelens-content.js';
import { circuitCheckRequest } from '../../engine/circuits/prompt-circuits.js';
import {
  circuitNodeDiagnostics,
  parseDiagnostics,
  stringsToTokenize,
  tokenDiagnostics,
  tokenizationOf,
  type RuleDiagnostic,
  type TokenLimits,
} from './diagnostic-rules.js';
import { bosToPrepend } from '../../engine/analysis/prompt-input.js';
import { tokenAt, tokenHoverMarkdown } from './hover-content.js';
import { questionOf } from './prompt-request.js';
import { isPromptDocument, PROMPT_SELECTOR, toRange, type PromptDocuments } from './prompt-documents.js';
import { analysisKey } from '../analysis-key.js';
import { ResultCache } from '../result-cache.js';

const LENS_COMMANDS: Readonly<Record<LensAction, string>> = {
  analyze: 'circuitTrace.analyzePrompt',
  patch: 'circuitTrace.patchPrompt',
  'show-result': 'circuitTrace.showResult',
  'show-problems': 'workbench.actions.view.problems',
  'check-circuit': 'circuitTrace.checkCircuit',
};

class PromptCodeLensProvider implements vscode.CodeLensProvider {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(
    private readonly documents: PromptDocuments,
    private readonly session: AnalysisSession,
    private readonly models: ModelManager,
  ) {}

  refresh(): void {
    this.emitter.fire();
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const file = this.documents.parse(document);
    const modelName = this.models.active().displayName;
    const lenses: vscode.CodeLens[] = [];
    for (const prompt of file.prompts) {
      const question = questionOf(prompt);
      const analysis = prompt.errorCount === 0 ? this.session.lookup(question) : undefined;
      const top = analysis?.result.predictions[0];
      const specs = promptLenses(prompt, { ...(top ? { top } : {}), running: prompt.errorCount === 0 && this.session.isRunning(question), modelName });
      const range = toRange(prompt.headerRange);
      for (const spec of specs) {
        const args =
          spec.action === 'show-result'
            ? [analysis?.key ?? analysisKey(question, this.models.active().id)]
            : spec.action === 'show-problems'
              ? []
              : [document.uri.toString(), prompt.name];
        lenses.push(new vscode.CodeLens(range, { title: spec.title, tooltip: spec.tooltip, command: LENS_COMMANDS[spec.action], arguments: args }));
      }
      for (const hypothesis of prompt.circuits) {
        const spec = circuitLens(prompt, hypothesis, this.session.circuits.state(circuitCheckRequest(prompt, hypothesis)));
        if (!spec) continue;
        const args = [document.uri.toString(), prompt.name, hypothesis.range.start.line];
        lenses.push(
          new vscode.CodeLens(toRange(hypothesis.range), { title: spec.title, tooltip: spec.tooltip, command: LENS_COMMANDS[spec.action], arguments: args }),
        );
      }
    }
    return lenses;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

class PromptHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly documents: PromptDocuments,
    private readonly session: AnalysisSession,
  ) {}

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const prompt = this.documents.promptAt(document, position);
    if (!prompt || prompt.errorCount > 0 || !prompt.textRange) return undefined;
    const analysis = this.session.lookup(questionOf(prompt));
    // The result must be of exactly this text (the key says so); check anyway before mapping offsets.
    if (!analysis || analysis.result.prompt !== prompt.text) return undefined;
    const hit = tokenAt(analysis.result.tokens, prompt.textMap, { line: position.line, character: position.character });
    if (!hit) return undefined;
    const markdown = new vscode.MarkdownString(tokenHoverMarkdown(analysis.result, hit.index, { topPredictions: 5, topHeads: 5 }));
    return new vscode.Hover(markdown, toRange(hit.range));
  }
}

/** Diagnostics: parse errors at once, tokenizer rules once the model is loaded. */
class PromptDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('circuitTrace');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Encoded strings per model id. */
  private readonly encoded = new ResultCache<Map<string, TokenInfo[]>>(4);

  constructor(
    private readonly documents: PromptDocuments,
    private readonly engine: EngineApi,
    private readonly models: ModelManager,
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  schedule(document: vscode.TextDocument, delayMs = 250): void {
    if (!isPromptDocument(document)) return;
    const key = document.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.update(document);
      }, delayMs),
    );
  }

  clear(document: vscode.TextDocument): void {
    clearTimeout(this.timers.get(document.uri.toString()));
    this.collection.delete(document.uri);
  }

  refreshAll(): void {
    for (const document of vscode.workspace.textDocuments) this.schedule(document, 0);
  }

  private async update(document: vscode.TextDocument): Promise<void> {
    if (document.isClosed) return;
    const version = document.version;
    const file = this.documents.parse(document);
    const rules: RuleDiagnostic[] = parseDiagnostics(file);
    this.collection.set(document.uri, rules.map(toDiagnostic));

    const loaded = this.models.current();
    if (!loaded) return;
    let cache = this.encoded.get(loaded.id);
    if (!cache) {
      cache = new Map();
      this.encoded.set(loaded.id, cache);
    }
    try {
      for (const prompt of file.prompts) {
        for (const text of stringsToTokenize(prompt)) {
          if (!cache.has(text)) cache.set(text, await this.engine.tokenize(text));
        }
      }
    } catch (error) {
      this.log.warn(`Diagnostics: tokenizing failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    // The document or the model may have changed while tokenizing: then a newer update follows.
    if (document.isClosed || document.version !== version || this.models.current()?.id !== loaded.id) return;
    const settings = this.settings();
    // The engine's own BOS rule, so a prompt the diagnostics pass is not refused as PROMPT_TOO_LONG.
    const prependBosId = bosToPrepend(loaded.info, prependBosRequest(settings.prependBos));
    const limits: TokenLimits = { maxTokens: settings.maxTokens, dVocab: loaded.info.dVocab, modelName: loaded.info.displayName, prependBosId };
    for (const prompt of file.prompts) {
      if (prompt.errorCount > 0) continue;
      const tokenization = tokenizationOf(prompt, cache);
      if (tokenization) rules.push(...tokenDiagnostics(prompt, tokenization, limits));
      rules.push(...circuitNodeDiagnostics(prompt, { nLayers: loaded.info.nLayers, nHeads: loaded.info.nHeads, modelName: loaded.info.displayName }));
    }
    this.collection.set(document.uri, rules.map(toDiagnostic));
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.collection.dispose();
  }
}

function toDiagnostic(rule: RuleDiagnostic): vscode.Diagnostic {
  const severity =
    rule.severity === 'error'
      ? vscode.DiagnosticSeverity.Error
      : rule.severity === 'warning'
        ? vscode.DiagnosticSeverity.Warning
        : vscode.DiagnosticSeverity.Information;
  const diagnostic = new vscode.Diagnostic(toRange(rule.range), rule.message, severity);
  diagnostic.source = 'Circuit Trace';
  diagnostic.code = rule.code;
  return diagnostic;
}

/** Registers the `.prompt` language features; everything goes into `subscriptions`. */
export function registerPromptLanguage(
  subscriptions: vscode.Disposable[],
  deps: {
    documents: PromptDocuments;
    session: AnalysisSession;
    models: ModelManager;
    engine: EngineApi;
    settings: () => Settings;
    log: vscode.LogOutputChannel;
  },
): { refreshDiagnostics(): void } {
  const lenses = new PromptCodeLensProvider(deps.documents, deps.session, deps.models);
  const diagnostics = new PromptDiagnostics(deps.documents, deps.engine, deps.models, deps.settings, deps.log);
  subscriptions.push(
    lenses,
    diagnostics,
    vscode.languages.registerCodeLensProvider(PROMPT_SELECTOR, lenses),
    vscode.languages.registerHoverProvider(PROMPT_SELECTOR, new PromptHoverProvider(deps.documents, deps.session)),
    deps.session.onDidChange(() => lenses.refresh()),
    deps.models.onDidChange(() => {
      lenses.refresh();
      diagnostics.refreshAll();
    }),
    vscode.workspace.onDidOpenTextDocument((d) => {
      if (!isPromptDocument(d)) return;
      diagnostics.schedule(d, 0);
      // Load the model in the background (no download) so tokenizer diagnostics can appear.
      void deps.models
        .ensureLoaded({ background: true })
        .catch((error: unknown) => deps.log.info(`Background model load skipped: ${error instanceof Error ? error.message : String(error)}`));
    }),
    vscode.workspace.onDidChangeTextDocument((e) => diagnostics.schedule(e.document)),
    // Whether the BOS counts towards maxTokens follows this setting, which reloads no model.
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SETTINGS_SECTION}.prependBos`)) diagnostics.refreshAll();
    }),
    vscode.workspace.onDidCloseTextDocument((d) => {
      diagnostics.clear(d);
      deps.documents.forget(d);
    }),
  );
  let sawPrompt = false;
  for (const d of vscode.workspace.textDocuments) {
    if (isPromptDocument(d)) {
      sawPrompt = true;
      diagnostics.schedule(d, 0);
    }
  }
  if (sawPrompt)
    void deps.models
      .ensureLoaded({ background: true })
      .catch((error: unknown) => deps.log.info(`Background model load skipped: ${error instanceof Error ? error.message : String(error)}`));
  return { refreshDiagnostics: () => diagnostics.refreshAll() };
}
