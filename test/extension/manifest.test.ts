/**
 * The extension manifest (package.json contributes) agrees with the code: every command is
 * registered and every registered command is contributed, menus and links name real commands,
 * settings match the settings reader, and every file the manifest names exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, source } from '../mocks/load-with-fakes.js';
import { DEFAULT_SETTINGS, readSettings, SETTING_RANGES, SETTINGS_SECTION } from '../../src/extension/settings.js';

// The command table imports `vscode`: route it to the in-memory fake.
const { COMMANDS } = source<typeof import('../../src/extension/commands/index.js')>('src/extension/commands/index.ts');

interface Command {
  command: string;
  title: string;
  category?: string;
  enablement?: string;
}
interface Manifest {
  activationEvents: string[];
  contributes: {
    commands: Command[];
    menus: Record<string, { command: string; when?: string }[]>;
    keybindings: { command: string; key: string; mac?: string; when?: string }[];
    configuration: {
      properties: Record<string, { default: unknown; markdownDescription?: string; description?: string; enum?: string[]; minimum?: number; maximum?: number }>;
    };
    languages: { id: string; extensions: string[]; configuration: string; icon?: { light: string; dark: string } }[];
    grammars: { language: string; path: string; scopeName: string }[];
    viewsContainers: { activitybar: { id: string; icon: string }[] };
    views: Record<string, { id: string; name: string }[]>;
    viewsWelcome: { view: string; contents: string }[];
    walkthroughs: { id: string; steps: { id: string; description: string; media: { markdown?: string }; completionEvents: string[] }[] }[];
  };
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations?: string[] } };
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const contributed = new Set(manifest.contributes.commands.map((c) => c.command));

/** Command ids in `command:` links of Markdown (viewsWelcome, walkthrough steps). */
function linkedCommands(markdown: string): string[] {
  return [...markdown.matchAll(/\(command:([\w.]+)/g)].map((m) => m[1] as string);
}

function isBuiltin(command: string): boolean {
  return command.startsWith('workbench.') || command.startsWith('vscode.');
}

test('the public commands have the titles the issue specifies, in category "Circuit Trace"', () => {
  const expected: Record<string, string> = {
    'circuitTrace.analyzeSelection': 'Analyze Selection',
    'circuitTrace.analyzePromptFile': 'Analyze Prompt File',
    'circuitTrace.runPatchSweep': 'Run Patch Sweep',
    'circuitTrace.selectModel': 'Select Model',
    'circuitTrace.downloadModel': 'Download Model',
    'circuitTrace.openLab': 'Open Lab',
    'circuitTrace.exportAnalysis': 'Export Analysis',
    'circuitTrace.showLogs': 'Show Logs',
  };
  for (const [id, title] of Object.entries(expected)) {
    const command = manifest.contributes.commands.find((c) => c.command === id);
    assert.ok(command, id);
    assert.equal(command.title, title);
  }
  for (const command of manifest.contributes.commands) {
    if (command.command.startsWith('circuitTrace.')) assert.equal(command.category, 'Circuit Trace', command.command);
  }
});

test("every contributed command of the extension is in the command table (or the Lab's), and every table entry is contributed", () => {
  const registered = new Set(COMMANDS.map((entry) => entry.id));
  assert.equal(registered.size, COMMANDS.length, 'no id twice in the table');
  const ours = [...contributed].filter((c) => c.startsWith('circuitTrace.'));
  // Commands of the Lab (src/extension/panels) are registered by the Lab's own module.
  const panelSources = existsSync(join(ROOT, 'src/extension/panels/lab-panel.ts')) ? readFileSync(join(ROOT, 'src/extension/panels/lab-panel.ts'), 'utf8') : '';
  const panelRegistered = new Set([...panelSources.matchAll(/registerCommand\(\s*'(circuitTrace\.[\w.]+)'/g)].map((m) => m[1] as string));
  for (const id of ours) assert.ok(registered.has(id) || panelRegistered.has(id), `${id} is contributed but never registered`);
  for (const id of registered) assert.ok(contributed.has(id), `${id} is registered but not contributed`);
});

test('commands keep their enablement: downloads need online mode, the export needs an analysis', () => {
  const enablement = Object.fromEntries(manifest.contributes.commands.filter((c) => c.enablement !== undefined).map((c) => [c.command, c.enablement]));
  assert.deepEqual(enablement, {
    'circuitTrace.downloadModel': '!config.circuitTrace.offline',
    'circuitTrace.exportAnalysis': 'circuitTrace.hasAnalysis',
    'circuitTrace.models.download': '!config.circuitTrace.offline',
  });
});

test('menus, keybindings, welcome views and walkthrough links name real commands', () => {
  for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
    for (const item of items) assert.ok(contributed.has(item.command), `${menu}: ${item.command}`);
  }
  const keybinding = manifest.contributes.keybindings.find((k) => k.command === 'circuitTrace.analyzeSelection');
  assert.equal(keybinding?.key, 'ctrl+alt+a');
  assert.equal(keybinding?.mac, 'cmd+alt+a');
  const links = [
    ...manifest.contributes.viewsWelcome.flatMap((w) => linkedCommands(w.contents)),
    ...manifest.contributes.walkthroughs.flatMap((w) => w.steps.flatMap((s) => linkedCommands(s.description))),
  ];
  assert.ok(links.length > 0);
  for (const command of links) assert.ok(contributed.has(command) || isBuiltin(command), command);
});

test('settings: one contributed property per setting, same defaults, each described', () => {
  const properties = manifest.contributes.configuration.properties;
  const keys = Object.keys(properties).sort();
  assert.deepEqual(
    keys,
    Object.keys(DEFAULT_SETTINGS)
      .map((k) => `${SETTINGS_SECTION}.${k}`)
      .sort(),
  );
  for (const [key, value] of Object.entries(DEFAULT_SETTINGS)) {
    const property = properties[`${SETTINGS_SECTION}.${key}`];
    assert.ok(property);
    assert.deepEqual(property.default, value, key);
    assert.ok((property.markdownDescription ?? property.description ?? '').length > 20, `${key} has a description`);
  }
  assert.deepEqual(properties['circuitTrace.device']?.enum, ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu']);
  assert.equal(properties['circuitTrace.maxTokens']?.default, 64);
  assert.equal(properties['circuitTrace.headThreshold']?.default, 0.35);
});

test('numeric settings: the manifest minimum and maximum are the range the reader accepts, its bounds are accepted, values beyond them not', () => {
  const properties = manifest.contributes.configuration.properties;
  for (const [key, range] of Object.entries(SETTING_RANGES)) {
    const property = properties[`${SETTINGS_SECTION}.${key}`];
    assert.equal(property?.minimum, range.min, `${key} minimum`);
    assert.equal(property?.maximum, range.max, `${key} maximum`);
    const read = (value: number): unknown => readSettings((k) => (k === key ? value : undefined))[key as keyof typeof SETTING_RANGES];
    assert.equal(read(range.max), range.max, `${key} accepts its maximum`);
    assert.equal(read(range.min), range.min, `${key} accepts its minimum`);
    assert.equal(read(range.max + 1), DEFAULT_SETTINGS[key as keyof typeof SETTING_RANGES], `${key} refuses more than its maximum`);
  }
  for (const [key, property] of Object.entries(properties)) {
    if (property.minimum !== undefined || property.maximum !== undefined)
      assert.ok(key.slice(SETTINGS_SECTION.length + 1) in SETTING_RANGES, `${key} has a range in the manifest but not in SETTING_RANGES`);
  }
});

test('views, activity bar, language, grammar, walkthrough media and icons exist', () => {
  const views = manifest.contributes.views['circuitTrace']?.map((v) => v.id);
  assert.deepEqual(views, ['circuitTrace.models', 'circuitTrace.presets', 'circuitTrace.heads', 'circuitTrace.history']);
  for (const welcome of manifest.contributes.viewsWelcome) assert.ok(views?.includes(welcome.view), welcome.view);
  for (const view of views ?? [])
    assert.ok(
      manifest.contributes.viewsWelcome.some((w) => w.view === view),
      `${view} has welcome content`,
    );
  for (const container of manifest.contributes.viewsContainers.activitybar) assert.ok(existsSync(join(ROOT, container.icon)), container.icon);
  const language = manifest.contributes.languages.find((l) => l.id === 'prompt');
  assert.deepEqual(language?.extensions, ['.prompt']);
  assert.ok(existsSync(join(ROOT, language?.configuration ?? '')));
  assert.ok(existsSync(join(ROOT, language?.icon?.light ?? '')));
  JSON.parse(readFileSync(join(ROOT, language?.configuration ?? ''), 'utf8'));
  const grammar = manifest.contributes.grammars.find((g) => g.language === 'prompt');
  assert.equal(grammar?.scopeName, 'source.prompt');
  assert.ok(existsSync(join(ROOT, grammar?.path ?? '')));
  const walkthrough = manifest.contributes.walkthroughs[0];
  assert.ok(walkthrough && walkthrough.steps.length >= 4);
  for (const step of walkthrough.steps) {
    assert.ok(step.media.markdown && existsSync(join(ROOT, step.media.markdown)), `${step.id} media`);
    assert.ok(step.completionEvents.length > 0, `${step.id} completes`);
  }
  assert.ok(existsSync(join(ROOT, 'media', 'lab.svg')), 'the Lab panel icon');
});

test('activation events and untrusted-workspace capability', () => {
  for (const event of ['onLanguage:prompt', 'onWebviewPanel:circuitTrace.lab', 'workspaceContains:**/*.prompt'])
    assert.ok(manifest.activationEvents.includes(event), event);
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.deepEqual(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations, ['circuitTrace.model', 'circuitTrace.cacheFolder']);
});

interface GrammarRule {
  match?: string;
  begin?: string;
  end?: string;
  patterns?: GrammarRule[];
  include?: string;
  name?: string;
}

test('the TextMate grammar: its expressions compile and scope the parts of a prompt file', () => {
  const grammar = JSON.parse(readFileSync(join(ROOT, 'syntaxes', 'prompt.tmLanguage.json'), 'utf8')) as {
    patterns: GrammarRule[];
    repository: Record<string, GrammarRule>;
  };
  const rules: GrammarRule[] = [...grammar.patterns, ...Object.values(grammar.repository)];
  const walk = (rule: GrammarRule): void => {
    for (const source of [rule.match, rule.begin, rule.end]) if (source !== undefined) new RegExp(source);
    rule.patterns?.forEach(walk);
  };
  rules.forEach(walk);
  const repo = grammar.repository;
  const re = (name: string, part: 'match' | 'begin'): RegExp => new RegExp(repo[name]?.[part] ?? '(?!)');
  assert.ok(re('comment', 'match').test('// a comment'));
  assert.ok(re('header', 'match').test('## IOI'));
  assert.deepEqual(re('directive', 'begin').exec('@target " Mary"')?.slice(1), ['@', 'target']);
  assert.equal(re('directive', 'begin').exec('@targets " Mary"'), null);
  assert.ok(re('stray-directive', 'match').test('@bogus "x"'));
  assert.ok(!re('header', 'match').test('When Mary and John went to the store'));
});
