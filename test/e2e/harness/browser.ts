/** Headless Debian Chromium driven by playwright-core (whose own browser download is unreachable here). */
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env['CIRCUIT_TRACE_E2E_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Flags that work offline and in CI containers: no sandbox (root in a container), no network
 * chatter that a closed network refuses, and WebGL rendered in software by SwiftShader so the
 * Lab's 3D view draws without a GPU.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}
