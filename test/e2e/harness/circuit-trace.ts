/**
 * Circuit Trace's own UI as a user meets it: the presets file with its CodeLenses and the Lab
 * panel with its views (marked data-view="<id>", data-drawn="true" once drawn; the Lab's root
 * carries data-render-ms, the time from a result's arrival to every view drawn).
 */
import type { Frame, Locator, Page } from 'playwright-core';
import { clickCodeLensAbove, codeLensAbove, openFile, visibleText } from './workbench.js';
import { webviewFrame } from './webview.js';

/** The induction preset of test/e2e/workspace/presets.prompt and what the organism answers. */
export const INDUCTION = {
  prompt: 'The cat sat on the mat. The cat sat on the',
  topToken: ' mat',
} as const;

export const DUPLICATE_TOKEN_PROMPT = 'The password is SWORDFISH. Again, the password is';

/** Views of the Lab that an analysis fills (patching fills on a patch sweep). */
export const ANALYSIS_VIEWS = ['grid3d', 'heatmap', 'trace', 'lens', 'flow', 'predictions'] as const;

const LAB_TIMEOUT_MS = 120_000;

export async function openPresets(page: Page): Promise<void> {
  await openFile(page, 'presets.prompt');
  await codeLensAbove(page, INDUCTION.prompt, 'Analyze');
}

/** Clicks a CodeLens ("Analyze", "Patch") above the prompt whose text is given. */
export async function clickCodeLens(page: Page, promptText: string, title: string): Promise<void> {
  await clickCodeLensAbove(page, promptText, title);
}

/** Waits for the CodeLens that shows a finished run's top prediction (`→ " mat" 91.2%`) and returns its text. */
export async function predictionLens(page: Page, promptText: string, timeout = LAB_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    try {
      const lens = await codeLensAbove(page, promptText, '→');
      return visibleText(await lens.innerText());
    } catch {
      await page.waitForTimeout(500);
    }
  }
  throw new Error(`no prediction CodeLens above "${promptText}" after ${timeout / 1000} s`);
}

/** The Lab's document (the webview's inner frame). */
export function labFrame(page: Page): Promise<Frame> {
  return webviewFrame(page, '[data-view]', LAB_TIMEOUT_MS);
}

export function labView(frame: Frame, view: string): Locator {
  return frame.locator(`[data-view="${view}"]`).first();
}

/** Waits until each view has drawn the current result. */
export async function waitForViewsDrawn(frame: Frame, views: readonly string[], timeout = LAB_TIMEOUT_MS): Promise<void> {
  for (const view of views) {
    await frame.locator(`[data-view="${view}"][data-drawn="true"]`).first().waitFor({ timeout });
  }
}

/** The Lab's data-render-ms, once set for the current result. */
export async function labRenderMs(frame: Frame, timeout = LAB_TIMEOUT_MS): Promise<number> {
  const element = frame.locator('[data-render-ms]').first();
  await element.waitFor({ state: 'attached', timeout });
  const value = Number(await element.getAttribute('data-render-ms'));
  if (!Number.isFinite(value) || value < 0) throw new Error(`data-render-ms is not a time: ${await element.getAttribute('data-render-ms')}`);
  return value;
}
