/**
 * Shows an engine error as a notification whose buttons fit its EngineError code (error-actions.ts),
 * and writes it to the log. Cancellations are logged only.
 */
import * as vscode from 'vscode';
import { isEngineError, type EngineErrorCode } from '../engine/errors.js';
import { ERROR_ACTION_LABELS, errorActions, isNotifiable, settingForError, type ErrorAction } from './error-actions.js';

export function errorCode(error: unknown): EngineErrorCode {
  return isEngineError(error) ? error.code : 'INTERNAL';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function notifyError(error: unknown, what: string, log: vscode.LogOutputChannel, context: { downloadRepo?: string } = {}): Promise<void> {
  const code = errorCode(error);
  const message = errorMessage(error);
  if (!isNotifiable(code)) {
    log.info(`${what}: cancelled (${message})`);
    return;
  }
  log.error(`${what} failed [${code}]: ${message}`);
  if (error instanceof Error && error.stack && code === 'INTERNAL') log.debug(error.stack);
  const actions = errorActions(code);
  const labels = actions.map((a) => ERROR_ACTION_LABELS[a]);
  const pick = await vscode.window.showErrorMessage(`Circuit Trace: ${what} failed. ${message}`, ...labels);
  const action: ErrorAction | undefined = actions[labels.indexOf(pick ?? '')];
  switch (action) {
    case 'showLogs':
      log.show();
      return;
    case 'selectModel':
      await vscode.commands.executeCommand('circuitTrace.selectModel');
      return;
    case 'downloadModel':
      await vscode.commands.executeCommand('circuitTrace.downloadModel', context.downloadRepo);
      return;
    case 'openSettings':
      await vscode.commands.executeCommand('workbench.action.openSettings', settingForError(code));
      return;
    case undefined:
      return;
  }
}
