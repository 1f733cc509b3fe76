/**
 * Parsed `.prompt` documents, cached by document version so that CodeLens, hover, diagnostics and
 * commands share one parse per edit.
 */
import * as vscode from 'vscode';
import { parsePromptFile, promptAtLine, type PromptEntry, type PromptFile, type SourcePosition, type SourceRange } from './parser.js';

export const PROMPT_LANGUAGE_ID = 'prompt';
export const PROMPT_SELECTOR: vscode.DocumentSelector = { language: PROMPT_LANGUAGE_ID };

export class PromptDocuments {
  private readonly cache = new Map<string, { version: number; file: PromptFile }>();

  parse(document: vscode.TextDocument): PromptFile {
    const key = document.uri.toString();
    const hit = this.cache.get(key);
    if (hit && hit.version === document.version) return hit.file;
    const file = parsePromptFile(document.getText());
    this.cache.set(key, { version: document.version, file });
    return file;
  }

  forget(document: vscode.TextDocument): void {
    this.cache.delete(document.uri.toString());
  }

  promptAt(document: vscode.TextDocument, position: vscode.Position): PromptEntry | undefined {
    return promptAtLine(this.parse(document), position.line);
  }

  byName(document: vscode.TextDocument, name: string): PromptEntry | undefined {
    return this.parse(document).prompts.find((p) => p.name === name);
  }
}

export function isPromptDocument(document: vscode.TextDocument): boolean {
  return document.languageId === PROMPT_LANGUAGE_ID;
}

export function toPosition(p: SourcePosition): vscode.Position {
  return new vscode.Position(p.line, p.character);
}

export function toRange(r: SourceRange): vscode.Range {
  return new vscode.Range(toPosition(r.start), toPosition(r.end));
}

/** Opens a document by URI string (CodeLens and tree items pass URIs as strings). */
export async function openDocument(uri: string | vscode.Uri): Promise<vscode.TextDocument> {
  return vscode.workspace.openTextDocument(typeof uri === 'string' ? vscode.Uri.parse(uri) : uri);
}
