/**
 * Reaching into webviews. VS Code draws each webview as an iframe (webview host) holding
 * another iframe (the extension's document); the content lives in the inner one, which
 * page.frames() lists like any other frame.
 */
import type { Browser, Frame, Locator, Page } from 'playwright-core';

/** The first frame (other than the workbench itself) that contains the selector. */
export async function webviewFrame(page: Page, selector: string, timeout = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame() || frame.isDetached()) continue;
      try {
        if (await frame.$(selector)) return frame;
      } catch {
        // The frame navigated or went away while we asked; try the next one.
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview frame contains ${selector} after ${timeout / 1000} s`);
}

export interface PixelStats {
  width: number;
  height: number;
  /** Share of pixels that differ from the image's most common colour (its background). */
  foregroundShare: number;
  /** Number of distinct colours, quantised to 5 bits per channel. */
  colours: number;
}

/**
 * Decodes a PNG (a screenshot) with Chromium itself, in a blank page of its own, and measures
 * how much of it is not background.
 */
export async function pixelStats(browser: Browser, png: Buffer): Promise<PixelStats> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    return await page.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context2d = canvas.getContext('2d');
      if (!context2d) throw new Error('no 2D canvas');
      context2d.drawImage(image, 0, 0);
      const { data } = context2d.getImageData(0, 0, canvas.width, canvas.height);
      const counts = new Map<number, number>();
      for (let i = 0; i < data.length; i += 4) {
        const key = ((data[i]! >> 3) << 10) | ((data[i + 1]! >> 3) << 5) | (data[i + 2]! >> 3);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const background = Math.max(...counts.values()); // pixels of the most common colour
      const pixels = data.length / 4;
      return { width: canvas.width, height: canvas.height, foregroundShare: (pixels - background) / pixels, colours: counts.size };
    }, png.toString('base64'));
  } finally {
    await context.close();
  }
}

/** Screenshot of one element (inside a webview too) and its pixel statistics. */
export async function elementPixels(browser: Browser, element: Locator): Promise<PixelStats> {
  return pixelStats(browser, await element.screenshot());
}
