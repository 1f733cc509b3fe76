/**
 * A user's session: a fresh code-server (own user data, the shared extensions folder) on a
 * copy of the sample workspace, in one theme, shown in headless Chromium. Screenshots of each
 * step go to test-output/e2e/<theme>/.
 */
import { cpSync, mkdirSync, mkdtempSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from './browser.js';
import { startCodeServer, type CodeServer } from './code-server.js';
import { e2eEnvironment } from './environment.js';
import { E2E_OUTPUT, SAMPLE_WORKSPACE } from './paths.js';

export type Theme = 'dark' | 'light';

export const THEME_NAMES: Record<Theme, string> = {
  dark: 'Default Dark Modern',
  light: 'Default Light Modern',
};

/** The themes to run: CIRCUIT_TRACE_E2E_THEMES=dark,light (the default) or one of them. */
export function themesToRun(): Theme[] {
  const chosen = (process.env['CIRCUIT_TRACE_E2E_THEMES'] ?? 'dark,light')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = chosen.filter((t) => !(t in THEME_NAMES));
  if (unknown.length > 0) throw new Error(`Unknown theme(s) ${unknown.join(', ')}: use dark, light`);
  return chosen as Theme[];
}

/** User settings for every session: the organism as the model, no distractions in the screenshots. */
function userSettings(theme: Theme, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    'workbench.colorTheme': THEME_NAMES[theme],
    'circuitTrace.model': 'organism',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.commandCenter.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': false,
    'git.enabled': false,
    'editor.codeLens': true,
    'editor.minimap.enabled': false,
    'editor.hover.delay': 300,
    // Typing in tests must produce exactly the typed text: no auto-closed quotes, no suggestions taking Enter.
    'editor.autoClosingQuotes': 'never',
    'editor.autoClosingBrackets': 'never',
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'editor.acceptSuggestionOnEnter': 'off',
    'files.autoSave': 'off',
    ...extra,
  };
}

export interface SessionOptions {
  theme: Theme;
  /** Names the session's screenshots and logs, e.g. "lab". */
  name: string;
  /** Settings added to (or overriding) the defaults. */
  settings?: Record<string, unknown>;
}

export interface Session {
  readonly page: Page;
  readonly browser: Browser;
  readonly theme: Theme;
  /** The copy of the sample workspace this session works on. */
  readonly workspaceDir: string;
  /** Saves a full-window screenshot as test-output/e2e/<theme>/<name>-<NN>-<step>.png and returns its path. */
  screenshot(step: string): Promise<string>;
  /** Saves a screenshot of one element (in a webview too), named like screenshot(). */
  elementScreenshot(element: Locator, step: string): Promise<string>;
  close(): Promise<void>;
}

const WORKBENCH_TIMEOUT_MS = 120_000;

export async function openSession(options: SessionOptions): Promise<Session> {
  const env = await e2eEnvironment();
  const sessionDir = mkdtempSync(join(env.runDir, `${options.name}-${options.theme}-`));
  const userDataDir = join(sessionDir, 'user-data');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify(userSettings(options.theme, options.settings ?? {}), null, 2));
  const workspaceDir = join(sessionDir, 'workspace');
  cpSync(SAMPLE_WORKSPACE, workspaceDir, { recursive: true });

  const logDir = join(E2E_OUTPUT, 'logs');
  const shotDir = join(E2E_OUTPUT, options.theme);
  mkdirSync(logDir, { recursive: true });
  mkdirSync(shotDir, { recursive: true });
  const logBase = join(logDir, `${options.name}-${options.theme}`);

  let codeServer: CodeServer | undefined;
  let browser: Browser | undefined;
  try {
    codeServer = await startCodeServer({
      codeServerDir: env.codeServerDir,
      extensionsDir: env.extensionsDir,
      userDataDir,
      scratchDir: sessionDir,
      logFile: `${logBase}-code-server.log`,
    });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    // The browser console (the workbench's and the webviews') goes to a log for diagnosing failures.
    page.on('console', (message) => appendFileSync(`${logBase}-browser.log`, `[${message.type()}] ${message.text()}\n`));
    page.on('pageerror', (error) => appendFileSync(`${logBase}-browser.log`, `[pageerror] ${error.message}\n`));
    // The page's load waits for the workbench's scripts: as long as the workbench itself may take on a busy machine.
    await page.goto(`${codeServer.origin}/?folder=${encodeURIComponent(workspaceDir)}`, { timeout: WORKBENCH_TIMEOUT_MS });
    await page.locator('.monaco-workbench').waitFor({ timeout: WORKBENCH_TIMEOUT_MS });
    // The explorer lists the workspace once the remote file system answers.
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: WORKBENCH_TIMEOUT_MS });

    let shots = 0;
    const shotPath = (step: string) => {
      shots += 1;
      return join(shotDir, `${options.name}-${String(shots).padStart(2, '0')}-${step.replace(/[^a-z0-9-]+/gi, '-').toLowerCase()}.png`);
    };
    const server = codeServer;
    const openedBrowser = browser;
    return {
      page,
      browser: openedBrowser,
      theme: options.theme,
      workspaceDir,
      async screenshot(step: string) {
        const file = shotPath(step);
        await page.screenshot({ path: file });
        return file;
      },
      async elementScreenshot(element: Locator, step: string) {
        const file = shotPath(step);
        await element.screenshot({ path: file });
        return file;
      },
      async close() {
        await openedBrowser.close().catch(() => undefined);
        await server.stop();
      },
    };
  } catch (error) {
    await browser?.close().catch(() => undefined);
    await codeServer?.stop();
    throw error;
  }
}

/**
 * A node:test test that works in a session and, when it fails, leaves a screenshot of the
 * window as it was (test-output/e2e/<theme>/<name>-NN-failed-<title>.png).
 */
export function sessionTest(title: string, session: () => Session, body: (session: Session) => Promise<void>): void {
  test(title, async () => {
    const current = session();
    try {
      await body(current);
    } catch (error) {
      await current.screenshot(`failed-${title.slice(0, 60)}`).catch(() => undefined);
      throw error;
    }
  });
}

/**
 * One describe block per theme being run, each with its own code-server session, opened (then
 * `prepare`d) before its tests and closed after them. `body` declares the tests; `current()` is
 * the open session; `settings` are added to the sessions' user settings (another model, say).
 */
export function describeInThemes(
  title: string,
  name: string,
  body: (current: () => Session, theme: Theme) => void,
  prepare?: (session: Session) => Promise<void>,
  settings?: Record<string, unknown>,
): void {
  for (const theme of themesToRun()) {
    describe(`${title} (${theme} theme)`, () => {
      let session: Session | undefined;
      before(async () => {
        session = await openSession({ theme, name, ...(settings ? { settings } : {}) });
        await prepare?.(session);
      });
      after(async () => {
        await session?.close();
      });
      body(() => {
        if (!session) throw new Error(`${title}: the ${theme} session did not open`);
        return session;
      }, theme);
    });
  }
}
