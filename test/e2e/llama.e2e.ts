/**
 * A Llama-family model in VS Code: Settings point `circuitTrace.model` at a folder holding a random
 * tiny Llama with a SentencePiece-style tokenizer.json (Metaspace, byte fallback; harness/llama-model.ts).
 * Analyze above the induction preset draws every view of the Lab, and hovering a word of the prompt
 * shows its token as this tokenizer cut it: "▁mat." read as " mat.".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import type { Frame } from 'playwright-core';
import { ANALYSIS_VIEWS, INDUCTION, clickCodeLens, labFrame, labView, openPresets, predictionLens, waitForViewsDrawn } from './harness/circuit-trace.js';
import { writeRandomLlamaFolder } from './harness/llama-model.js';
import { describeInThemes, sessionTest } from './harness/session.js';
import { hoverWord, visibleText } from './harness/workbench.js';

const MODEL_DIR = join(mkdtempSync(join(tmpdir(), 'circuit-trace-e2e-llama-')), 'random-llama');

before(() => writeRandomLlamaFolder(MODEL_DIR));
after(() => rmSync(dirname(MODEL_DIR), { recursive: true, force: true }));

describeInThemes(
  'a Llama-family model with a SentencePiece tokenizer',
  'llama',
  (current) => {
    let lab: Frame;

    sessionTest('Analyze above the induction preset draws every view of the Lab with the random Llama', current, async (session) => {
      const { page } = session;
      await openPresets(page);
      await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
      lab = await labFrame(page);
      await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
      const lens = await predictionLens(page, INDUCTION.prompt);
      assert.match(lens, /^→ ".*" \d+(\.\d+)?%$/, lens);
      // The token flow labels the prompt's pieces as this tokenizer cut them.
      const flow = visibleText(await labView(lab, 'flow').innerText());
      assert.ok(flow.includes('mat.'), `token flow labels: ${flow.slice(0, 300)}`);
      await session.screenshot('llama-lab');
    });

    sessionTest('hovering "mat" in the prompt shows its SentencePiece token " mat." with its id and the model', current, async (session) => {
      const hover = await hoverWord(session.page, INDUCTION.prompt, 'mat', 0);
      await session.screenshot('llama-hover');
      assert.match(hover, /" mat\." · token id \d+ · position \d+/, hover);
      assert.match(hover, /random-llama/, hover);
      assert.match(hover, /Top next tokens here/, hover);
    });
  },
  undefined,
  { 'circuitTrace.model': MODEL_DIR },
);
