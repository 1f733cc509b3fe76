import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentSecurityPolicy, createNonce, labHtml } from '../../../src/extension/panels/lab-html.js';

const options = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'abc123==',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webviews/lab.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webviews/lab.css',
  codiconUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/codicons/codicon.css',
  content: 'trace' as const,
  title: 'Circuit <Trace>',
};

test('the CSP denies everything by default and allows only the nonce script and the webview origin', () => {
  const csp = contentSecurityPolicy(options.cspSource, options.nonce);
  assert.match(csp, /^default-src 'none'; /);
  assert.match(csp, /script-src 'nonce-abc123=='(;|$)/);
  assert.match(csp, /style-src https:\/\/file\+\.vscode-resource\.vscode-cdn\.net(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|http:/);
});

test('the page loads one module script with the nonce, the two stylesheets, and names its content', () => {
  const html = labHtml(options);
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.match(
    html,
    /<script type="module" nonce="abc123==" src="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/ext\/dist\/webviews\/lab\.js"><\/script>/,
  );
  assert.match(html, /<link rel="stylesheet" href="[^"]+codicon\.css">/);
  assert.match(html, /<link rel="stylesheet" href="[^"]+lab\.css">/);
  assert.match(html, /<div id="lab-root" data-lab-content="trace"><\/div>/);
  assert.match(html, /<title>Circuit &lt;Trace&gt;<\/title>/);
  assert.doesNotMatch(html, /style="/);
});

test('nonces are fresh and long enough', () => {
  const a = createNonce();
  const b = createNonce();
  assert.notEqual(a, b);
  assert.ok(Buffer.from(a, 'base64').length >= 16);
});
