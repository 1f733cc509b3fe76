/**
 * The shape of the command table: each command group (analyze.ts, patch.ts, model.ts, …) exports
 * entries `{ id, title, factory }`, and registerCommands (index.ts) registers them in one loop.
 * A factory gets the extension's context and returns the handler; the loop turns a handler's
 * failure into a notification with fitting actions.
 */
import type * as vscode from 'vscode';
import type { AnalysisSession } from '../analysis-session.js';
import type { ModelManager } from '../model/model-manager.js';
import type { PromptDocuments } from '../prompt-file/prompt-documents.js';
import type { LabPanelController } from '../panels/lab-panel.js';
import type { FeatureSession } from '../features/feature-session.js';

/** What command handlers work with. */
export interface CommandContext {
  extension: vscode.ExtensionContext;
  session: AnalysisSession;
  models: ModelManager;
  documents: PromptDocuments;
  lab: LabPanelController;
  /** The loaded dictionary and the feature runs. */
  features: FeatureSession;
  log: vscode.LogOutputChannel;
  refreshHistory(): void;
}

/** Handlers take whatever VS Code, menus and links pass (`never[]` admits any parameter list); each checks its arguments itself. */
export type CommandHandler = (...args: never[]) => unknown;

export interface CommandEntry {
  /** The contributed command id (package.json contributes.commands). */
  id: string;
  /** What failed, in an error notification ("Analyze Selection failed: …"). */
  title: string;
  factory(ctx: CommandContext): CommandHandler;
}
