/**
 * What a user does in the VS Code workbench, as Playwright steps: open a file, run a command
 * from the palette, click a CodeLens, select text, hover a word, read notifications and
 * problems. Selectors are VS Code 1.100's DOM (code-server 4.100.3).
 */
import type { Locator, Page } from 'playwright-core';

const QUICK_INPUT = '.quick-input-widget';

/** Monaco renders spaces as U+00A0; compare text as the user reads it. */
export function visibleText(text: string): string {
  return text.replace(/\u00a0/g, ' ');
}

/** Escapes text for use inside a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function quickInputRow(page: Page, label: string): Promise<Locator> {
  const row = page
    .locator(`${QUICK_INPUT} .monaco-list-row`)
    .filter({ hasText: new RegExp(`^\\s*${literal(label)}`) })
    .first();
  await row.waitFor();
  return row;
}

/** Quick Open (Ctrl+P): type the file's name, pick it. */
export async function openFile(page: Page, fileName: string): Promise<void> {
  await page
    .locator('.monaco-workbench')
    .click({ position: { x: 700, y: 400 } })
    .catch(() => undefined);
  await page.keyboard.press('Control+P');
  await page.locator(QUICK_INPUT).waitFor();
  await page.keyboard.type(fileName);
  await (await quickInputRow(page, fileName)).click();
  await page.locator(`.tabs-container .tab.active[aria-label*="${fileName}"]`).waitFor();
  await editorLine(page, '').first().waitFor();
}

/**
 * Opens the command palette with F1. When a webview has the keyboard, the key may not reach the
 * workbench: then the palette opens from the title bar's command center, as a user would click it.
 */
async function openCommandPalette(page: Page): Promise<void> {
  await page.keyboard.press('F1');
  try {
    await page.locator(QUICK_INPUT).waitFor({ timeout: 3000 });
    return;
  } catch {
    await page.locator('.titlebar .command-center-center').first().click();
    await page.locator(QUICK_INPUT).waitFor();
    await page.keyboard.type('>');
  }
}

/**
 * Runs a command from the palette (F1) by its full title, e.g. "Circuit Trace: Analyze Selection". A
 * command that opens a quick pick of its own names its title (`opensQuickPick`), which is waited for
 * instead of the palette closing: the widget can be the palette's one moment and the command's the
 * next, never hidden in between.
 */
export async function runCommand(page: Page, title: string, opensQuickPick?: string): Promise<void> {
  await openCommandPalette(page);
  await page.keyboard.type(title);
  const row = await quickInputRow(page, title);
  await row.click();
  if (opensQuickPick === undefined) await page.locator(QUICK_INPUT).waitFor({ state: 'hidden' });
  else await page.locator(`${QUICK_INPUT} .quick-input-title`, { hasText: opensQuickPick }).waitFor();
}

/** Command titles the palette offers for a query (for checking what the extension contributes). */
export async function paletteTitles(page: Page, query: string): Promise<string[]> {
  await openCommandPalette(page);
  await page.keyboard.type(query);
  await page.locator(`${QUICK_INPUT} .monaco-list-row`).first().waitFor();
  await page.waitForTimeout(300); // the list filters as the query is typed
  const titles = await page.locator(`${QUICK_INPUT} .monaco-list-row .label-name`).allInnerTexts();
  await page.keyboard.press('Escape');
  return titles.map(visibleText);
}

/** The rendered editor line(s) of the active editor containing the text. */
export function editorLine(page: Page, text: string): Locator {
  const lines = page.locator('.editor-instance .monaco-editor .view-lines .view-line');
  return text === '' ? lines : lines.filter({ hasText: text });
}

/**
 * The CodeLens with the given title above a line: the lowest lens whose bottom is above the
 * line's top (CodeLenses are drawn in the gap above the line they annotate, or above its header).
 */
export async function codeLensAbove(page: Page, lineText: string, title: string): Promise<Locator> {
  const line = editorLine(page, lineText).first();
  await line.waitFor();
  // Monaco keeps the widgets of scrolled-away lenses in the DOM, hidden.
  const lenses = page.locator('.editor-instance .monaco-editor .codelens-decoration').filter({ visible: true });
  await lenses.first().waitFor();
  const lineBox = await line.boundingBox();
  if (!lineBox) throw new Error(`line "${lineText}" is not visible`);
  let best: { index: number; bottom: number } | undefined;
  const count = await lenses.count();
  for (let i = 0; i < count; i++) {
    const box = await lenses.nth(i).boundingBox();
    if (!box) continue;
    const bottom = box.y + box.height;
    // A prompt's lenses sit right above its header line, which is right above its text: within
    // a few lines. Further up they belong to the previous prompt.
    const nearEnough = bottom >= lineBox.y - 3 * lineBox.height;
    if (bottom <= lineBox.y + 1 && nearEnough && (!best || bottom > best.bottom)) best = { index: i, bottom };
  }
  if (!best) throw new Error(`no CodeLens above "${lineText}"`);
  const link = lenses.nth(best.index).locator('a').filter({ hasText: title }).first();
  await link.waitFor();
  // Pin the element itself: Monaco re-renders lenses after edits (with new ids), and a
  // positional locator could then resolve to another prompt's lens.
  const id = await link.getAttribute('id');
  return id ? page.locator(`.codelens-decoration a[id="${id}"]`) : link;
}

/**
 * Clicks a CodeLens once it has stopped re-rendering: a lens replaced between mouse down and
 * up swallows the click. Retries when the lens was replaced under the pointer.
 */
export async function clickCodeLensAbove(page: Page, lineText: string, title: string): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const first = await codeLensAbove(page, lineText, title);
      const id = await first.getAttribute('id');
      await page.waitForTimeout(400);
      const again = await codeLensAbove(page, lineText, title);
      if ((await again.getAttribute('id')) !== id) continue; // still re-rendering
      await again.click({ timeout: 3000 });
      return;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(`could not click the "${title}" CodeLens above "${lineText}"`);
}

/** Every CodeLens title drawn above the line, in order. */
export async function codeLensTitlesAbove(page: Page, lineText: string): Promise<string[]> {
  const anyLens = await codeLensAbove(page, lineText, '');
  const decoration = anyLens.locator('xpath=..');
  return (await decoration.locator('a').allInnerTexts()).map(visibleText);
}

/** Polls the CodeLenses above a line until their titles satisfy the predicate (they update after edits). */
export async function waitForCodeLensTitles(page: Page, lineText: string, accept: (titles: string[]) => boolean, timeout = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeout;
  let titles: string[] = [];
  while (Date.now() < deadline) {
    titles = await codeLensTitlesAbove(page, lineText).catch((): string[] => []); // no lens at all counts as none
    if (accept(titles)) return titles;
    await page.waitForTimeout(250);
  }
  throw new Error(`the CodeLenses above "${lineText}" stayed ${titles.length > 0 ? titles.join(' | ') : 'absent'}`);
}

/** Gives the keyboard back to the active editor (after a panel or the palette had it). */
export async function focusEditor(page: Page): Promise<void> {
  await runCommand(page, 'View: Focus Active Editor Group');
}

/** Puts the caret on the line and selects it from its first to its last character. */
export async function selectLine(page: Page, lineText: string): Promise<void> {
  await editorLine(page, lineText).first().click();
  await page.keyboard.press('Home');
  await page.keyboard.press('Home'); // twice: Monaco's first Home stops at the indentation
  await page.keyboard.press('Shift+End');
}

/** Viewport coordinates of the middle of a word on a line (the nth occurrence, 0-based). */
async function wordCentre(page: Page, lineText: string, word: string, occurrence = 0): Promise<{ x: number; y: number }> {
  const line = editorLine(page, lineText).first();
  await line.waitFor();
  const point = await line.evaluate(
    (element, args) => {
      const text = (element.textContent ?? '').replace(/\u00a0/g, ' ');
      let at = -1;
      for (let n = 0; n <= args.occurrence; n++) at = text.indexOf(args.word, at + 1);
      if (at < 0) return null;
      const middle = at + Math.floor(args.word.length / 2);
      // Walk the line's text nodes to the character in the middle of the word.
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      let offset = 0;
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const length = node.textContent?.length ?? 0;
        if (middle < offset + length) {
          const range = document.createRange();
          range.setStart(node, middle - offset);
          range.setEnd(node, middle - offset + 1);
          const rect = range.getBoundingClientRect();
          return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
        }
        offset += length;
      }
      return null;
    },
    { word, occurrence },
  );
  if (!point) throw new Error(`"${word}" is not on the line "${lineText}"`);
  return point;
}

/** Moves the mouse over a word and returns the text of the hover that appears. */
export async function hoverWord(page: Page, lineText: string, word: string, occurrence = 0): Promise<string> {
  const { x, y } = await wordCentre(page, lineText, word, occurrence);
  await page.mouse.move(x, y - 40);
  await page.mouse.move(x, y, { steps: 4 });
  const hover = page.locator('.monaco-hover:not(.hidden) .monaco-hover-content, .monaco-hover:not(.hidden) .hover-contents').first();
  await hover.waitFor();
  // VS Code shows "Loading..." while a hover provider is still answering: wait for the answer.
  const deadline = Date.now() + 15_000;
  let text = visibleText(await hover.innerText());
  while (/^\s*Loading/i.test(text) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    text = visibleText(await hover.innerText());
  }
  return text;
}

/** Waits for a notification toast whose message matches, and returns its text. */
export async function waitForNotification(page: Page, message: RegExp, timeout = 30_000): Promise<string> {
  const toast = page.locator('.notifications-toasts .notification-list-item-message').filter({ hasText: message }).first();
  await toast.waitFor({ timeout });
  return visibleText(await toast.innerText());
}

/** Closes every notification toast (so later steps and screenshots are not covered by them). */
export async function clearNotifications(page: Page): Promise<void> {
  await runCommand(page, 'Notifications: Clear All Notifications');
}

/** Opens the Problems panel and waits for a problem matching the pattern; returns its text. */
export async function waitForProblem(page: Page, pattern: RegExp, timeout = 30_000): Promise<string> {
  await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
  const rows = page.locator('.markers-panel .monaco-list-row');
  const deadline = Date.now() + timeout;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = (await rows.evaluateAll((elements) => elements.map((e) => e.getAttribute('aria-label') ?? e.textContent ?? ''))).map(visibleText);
    const match = seen.find((text) => pattern.test(text));
    if (match !== undefined) return match;
    await page.waitForTimeout(250);
  }
  throw new Error(`no problem matches ${pattern}; the Problems panel lists:\n${seen.join('\n')}`);
}

/** Opens a view container from the activity bar by its title (e.g. "Circuit Trace"). */
export async function openViewContainer(page: Page, title: string): Promise<void> {
  const item = page.locator(`.activitybar .action-item a[aria-label^="${title}"], .activitybar .action-item .action-label[aria-label^="${title}"]`).first();
  await item.click();
  await page
    .locator('.sidebar .composite.title')
    .filter({ hasText: title.toUpperCase() })
    .first()
    .waitFor()
    .catch(() => undefined);
}

/** The pane (view) of the side bar with the given title, expanded. */
export async function sideBarPane(page: Page, title: string): Promise<Locator> {
  const pane = page
    .locator('.sidebar .pane')
    .filter({ has: page.locator('.pane-header', { hasText: new RegExp(`^\\s*${literal(title)}`, 'i') }) })
    .first();
  await pane.waitFor();
  const header = pane.locator('.pane-header').first();
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  return pane;
}

/**
 * The visible rows of a side-bar pane's tree, as text, once they satisfy `accept` (a tree fills
 * in steps, so its first row is not yet all of it); the last rows seen when the time is up.
 */
export async function paneRows(pane: Locator, accept: (rows: string[]) => boolean = () => true, timeout = 15_000): Promise<string[]> {
  const rows = pane.locator('.pane-body .monaco-list-row');
  await rows.first().waitFor({ timeout });
  const deadline = Date.now() + timeout;
  let seen = (await rows.allInnerTexts()).map(visibleText);
  while (!accept(seen) && Date.now() < deadline) {
    await pane.page().waitForTimeout(200);
    seen = (await rows.allInnerTexts()).map(visibleText);
  }
  return seen;
}
