/** A short informational notification of a command (nothing to do, or nothing selected). */
import * as vscode from 'vscode';

export function info(message: string): void {
  void vscode.window.showInformationMessage(`Circuit Trace: ${message}`);
}
