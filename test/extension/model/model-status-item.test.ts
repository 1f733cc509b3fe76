/**
 * The model status item's tooltip: the model's name, id and fallback reason are user text inside
 * a MarkdownString with theme icons, so Markdown, a command link or a $(icon) in them stays text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';

type StatusItemModule = typeof import('../../../src/extension/model/model-status-item.js');

const vscode = fakeVscode();
const { ModelStatusItem } = source<StatusItemModule>('src/extension/model/model-status-item.ts');

test('status bar tooltip: a model id with Markdown and a command link stays plain text', () => {
  vscode.fake.reset();
  const evil = 'evil/[click](command:workbench.action.terminal.new) **bold** <b>x</b> $(zap)';
  const item = new ModelStatusItem();
  item.show({
    active: {
      id: evil,
      choice: { kind: 'hub', repo: evil },
      displayName: evil,
      fallbackReason: 'Hub unreachable: [retry](command:circuitTrace.selectModel)\n\n# heading',
    },
    loaded: {
      id: evil,
      info: {
        id: evil,
        displayName: evil,
        nLayers: 2,
        nHeads: 4,
        dModel: 8,
        dHead: 2,
        dVocab: 10,
        nCtx: 16,
        bosTokenId: null,
        device: 'cpu',
        deviceNote: null,
        loadMs: 1,
      },
    },
    loading: false,
    deviceSetting: 'auto',
  });
  const tooltip = vscode.fake.statusItems.at(-1)!.tooltip as InstanceType<typeof vscode.MarkdownString>;
  assert.ok(tooltip instanceof vscode.MarkdownString);
  const md = tooltip.value;
  assert.doesNotMatch(md, /\]\(command:/, 'no command link survives');
  assert.doesNotMatch(md, /(^|[^\\])\*\*bold/, 'no bold markup from the id');
  assert.doesNotMatch(md, /(^|[^\\])<b>/, 'no HTML from the id');
  assert.doesNotMatch(md, /(^|[^\\])\$\(zap\)/, 'no theme icon from the id');
  assert.doesNotMatch(md, /\n# heading/, 'the reason stays on its line');
  assert.ok(md.includes(String.raw`evil\/\[click\]\(command\:workbench\.action`), md);
  // The extension's own markup is still there.
  assert.match(md, /^\*\*Circuit Trace model:\*\* /);
  assert.match(md, /\$\(warning\) Hub unreachable/);
  item.dispose();
});
