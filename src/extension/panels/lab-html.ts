/**
 * The Lab webview's HTML document. Strict Content-Security-Policy: nothing is allowed by default;
 * the one script needs this load's nonce, styles, fonts and images come only from the webview's
 * own resource origin (the extension's `dist` and `media` folders), images may also be data/blob
 * URLs the webview draws itself. No inline styles, no remote resources, no eval.
 *
 * Free of `vscode` imports (URIs arrive as strings) so that it is unit tested in plain Node.
 */
import { randomBytes } from 'node:crypto';
import { LAB_CONTENT_ATTRIBUTE, LAB_ROOT_ID, type LabPanelContent } from '../../protocol/webview-messages.js';

export interface LabHtmlOptions {
  /** `webview.cspSource`. */
  cspSource: string;
  /** A fresh nonce per load (see `createNonce`). */
  nonce: string;
  /** Webview URIs (`webview.asWebviewUri`) of the bundle, its stylesheet and the codicon stylesheet. */
  scriptUri: string;
  styleUri: string;
  codiconUri: string;
  content: LabPanelContent;
  title: string;
}

/** 128 random bits, base64: unguessable per load, as CSP nonces must be. */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return ["default-src 'none'", `script-src 'nonce-${nonce}'`, `style-src ${cspSource}`, `font-src ${cspSource}`, `img-src ${cspSource} data: blob:`].join(
    '; ',
  );
}

export function labHtml(o: LabHtmlOptions): string {
  const attr = escapeAttribute;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(o.codiconUri)}">
<link rel="stylesheet" href="${attr(o.styleUri)}">
<title>${attr(o.title)}</title>
</head>
<body>
<div id="${LAB_ROOT_ID}" ${LAB_CONTENT_ATTRIBUTE}="${attr(o.content)}"></div>
<script type="module" nonce="${attr(o.nonce)}" src="${attr(o.scriptUri)}"></script>
</body>
</html>`;
}
