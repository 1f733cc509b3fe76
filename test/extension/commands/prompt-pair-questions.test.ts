/**
 * The four questions of Run Patch Sweep and Find Circuit outside a `.prompt` prompt: titled per
 * command and step, the clean prompt starting from the selection, the corrupted one from the clean
 * one and refused when empty or equal to it, tokens parsed as JSON strings or ids (empty: none), and
 * any dismissed question ending the whole run.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';

const vscode = fakeVscode();
const { askPromptPair } = source<typeof import('../../../src/extension/commands/prompt-pair-questions.js')>('src/extension/commands/prompt-pair-questions.ts');

const WORDING = { command: 'Find Circuit', clean: 'clean?', target: 'target?', contrast: 'contrast?' };

interface Asked {
  title: string;
  prompt: string;
  value?: string;
  validateInput(v: string): string | undefined;
}

function answering(answers: (string | undefined)[]): Asked[] {
  const asked: Asked[] = [];
  vscode.window.showInputBox = (async (options: Asked) => {
    asked.push(options);
    return answers.shift();
  }) as never;
  return asked;
}

beforeEach(() => vscode.fake.reset());

test('four questions titled per command and step; tokens parsed, empty contrast is none', async () => {
  const asked = answering(['The cat sat', 'The dog sat', '" mat"', '']);
  const pair = await askPromptPair(WORDING, 'selected text');
  assert.deepEqual(pair, { clean: 'The cat sat', corrupt: 'The dog sat', target: { text: ' mat' }, contrast: undefined });
  assert.deepEqual(
    asked.map((a) => a.title),
    [
      'Find Circuit (1/4): clean prompt',
      'Find Circuit (2/4): corrupted prompt',
      'Find Circuit (3/4): target token',
      'Find Circuit (4/4): contrast token (optional)',
    ],
  );
  assert.equal(asked[0]!.value, 'selected text');
  assert.equal(asked[1]!.value, 'The cat sat', 'the corrupted prompt starts from the clean one');
  assert.deepEqual(
    asked.map((a) => a.prompt),
    ['clean?', 'The same prompt with the crucial part changed; it must have the same number of tokens', 'target?', 'contrast?'],
  );
});

test('validation: an empty clean prompt, an empty or unchanged corrupted prompt and a malformed token are refused', async () => {
  const asked = answering(['a', 'b', '', '']);
  await askPromptPair(WORDING, '');
  assert.match(String(asked[0]!.validateInput('  ')), /Enter the clean prompt/);
  assert.equal(asked[0]!.validateInput('x'), undefined);
  assert.match(String(asked[1]!.validateInput('')), /Enter the corrupted prompt/);
  assert.match(String(asked[1]!.validateInput('a')), /must differ/);
  assert.equal(asked[1]!.validateInput('c'), undefined);
  assert.notEqual(asked[2]!.validateInput('"unclosed'), undefined);
  assert.equal(asked[2]!.validateInput(''), undefined);
});

test('dismissing any question ends the run', async () => {
  for (let dismissed = 0; dismissed < 4; dismissed++) {
    const answers: (string | undefined)[] = ['a', 'b', '" x"', '" y"'];
    answers[dismissed] = undefined;
    const asked = answering(answers);
    assert.equal(await askPromptPair(WORDING, ''), undefined, `question ${dismissed + 1} dismissed`);
    assert.equal(asked.length, dismissed + 1, 'no question after the dismissed one');
  }
});
