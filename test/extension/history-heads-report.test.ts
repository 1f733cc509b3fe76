import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HISTORY_STATE_KEY, HistoryStore, shortPromptName, type StateStore } from '../../src/extension/history-store.js';
import { groupHeads } from '../../src/extension/views/head-groups.js';
import { buildHtmlReport, escapeHtml, scriptSafeJson } from '../../src/extension/export/html-report.js';
import { analysisFromJson, type AnalysisResultJson } from '../../src/protocol/json.js';
import { makeResult } from '../mocks/fixtures.js';

function memoryState(initial?: unknown): StateStore & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  if (initial !== undefined) data.set(HISTORY_STATE_KEY, initial);
  return {
    data,
    get: <T>(key: string) => data.get(key) as T | undefined,
    update: async (key: string, value: unknown) => {
      data.set(key, JSON.parse(JSON.stringify(value)));
    },
  };
}

const base = { key: 'k1@organism', name: 'IOI', prompt: 'When Mary', modelId: 'organism', modelName: 'Model organism', createdAt: 1 };

test('history: newest first, same key moves up and keeps its id, capacity, remove, clear', async () => {
  const store = new HistoryStore(memoryState(), 3);
  const a = await store.add(base);
  const b = await store.add({ ...base, key: 'k2@organism', name: 'B' });
  assert.deepEqual(
    store.list().map((e) => e.name),
    ['B', 'IOI'],
  );
  const again = await store.add({ ...base, createdAt: 2, top: { token: ' Mary', prob: 0.4 } });
  assert.equal(again.id, a.id);
  assert.deepEqual(
    store.list().map((e) => e.id),
    [a.id, b.id],
  );
  assert.deepEqual(store.get(a.id)?.top, { token: ' Mary', prob: 0.4 });
  await store.add({ ...base, key: 'k3' });
  await store.add({ ...base, key: 'k4' });
  assert.equal(store.list().length, 3);
  assert.equal(store.findByKey('k2@organism'), undefined, 'the oldest fell off');
  assert.equal(await store.remove(a.id), true);
  assert.equal(await store.remove('nope'), false);
  await store.clear();
  assert.deepEqual(store.list(), []);
});

test('history: malformed stored data is dropped, good entries kept', () => {
  const store = new HistoryStore(memoryState([{ id: 'x' }, 'junk', { ...base, id: 'ok', target: { text: ' Mary' }, contrast: { nope: 1 } }]));
  const entries = store.list();
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0]?.target, { text: ' Mary' });
  assert.equal(entries[0]?.contrast, undefined);
  assert.deepEqual(new HistoryStore(memoryState({ not: 'an array' })).list(), []);
  assert.equal(shortPromptName('a'.repeat(60), 10), 'aaaaaaaaa…');
  assert.equal(shortPromptName('line one\nline two'), 'line one');
});

test('history: an entry keeps its @metric, so reopening asks the same question; a malformed one is dropped', async () => {
  const store = new HistoryStore(memoryState());
  const added = await store.add({ ...base, metric: { kind: 'greater-than', startYear: 32 } });
  assert.deepEqual(store.get(added.id)?.metric, { kind: 'greater-than', startYear: 32 });
  const stored = new HistoryStore(
    memoryState([
      { ...base, id: 'a', metric: { kind: 'greater-than', startYear: 132 } },
      { ...base, id: 'b', metric: { kind: 'less-than', startYear: 3 } },
    ]),
  );
  assert.deepEqual(
    stored.list().map((e) => e.metric),
    [undefined, undefined],
  );
});

test('heads view: grouped by class in a fixed order, sorted by class score', () => {
  const groups = groupHeads(makeResult().heads);
  assert.deepEqual(
    groups.map((g) => g.title),
    ['Induction (1)', 'Previous token (1)', 'Diffuse (2)'],
  );
  assert.deepEqual(
    groups[0]?.heads.map((h) => [h.name, h.score, h.description]),
    [['L1H0', 0.7, '0.70 · DLA +1.20']],
  );
  // Diffuse heads have no class score: sorted by |DLA|.
  assert.deepEqual(
    groups[2]?.heads.map((h) => h.name),
    ['L0H1', 'L1H1'],
  );
  assert.match(groups[2]?.heads[0]?.tooltip ?? '', /duplicate-token — · induction 0\.05/);
});

test('HTML report: self-contained, with the figures and the full data inline', () => {
  const result = makeResult({ prompt: 'The cat </script><script>alert(1)</script> sat' });
  const html = buildHtmlReport(result, { generatedAt: '2025-01-01T00:00:00Z', extensionVersion: '0.1.0' });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i, 'nothing is loaded from anywhere');
  assert.doesNotMatch(html, /<script(?![^>]*type="application\/json")/, 'the only script element is inert data');
  assert.doesNotMatch(html, /<\/script><script>alert/, 'the prompt is escaped');
  assert.match(html, /L1H0: \+1\.200/, 'DLA heatmap cells carry their values');
  assert.match(html, /Attention of L1H0/);
  assert.match(html, /44\.6%/);
  const json = /<script type="application\/json" id="circuit-trace-data">(.*)<\/script>/s.exec(html)?.[1];
  assert.ok(json);
  const restored = analysisFromJson(JSON.parse(json) as AnalysisResultJson);
  assert.equal(restored.prompt, result.prompt);
  assert.deepEqual([...restored.attention], [...result.attention]);
  assert.equal(escapeHtml('<a href="x">&</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  assert.equal(scriptSafeJson({ s: '</script>\u2028' }), '{"s":"\\u003c/script>\\u2028"}');
});
