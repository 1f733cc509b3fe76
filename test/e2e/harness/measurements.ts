/**
 * Numbers the e2e tests read off the real UI (e.g. the Lab's data-render-ms), appended as JSON
 * lines to test-output/e2e/measurements.jsonl; the runner summarises them into docs/benchmarks.md.
 * Recorded, never asserted: speed is measured by benchmarks, not by timed tests.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_OUTPUT } from './paths.js';

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  theme: string;
  /** What was measured on, e.g. the prompt. */
  context: string;
}

export const MEASUREMENTS_FILE = join(E2E_OUTPUT, 'measurements.jsonl');

export function recordMeasurement(measurement: Measurement): void {
  mkdirSync(E2E_OUTPUT, { recursive: true });
  appendFileSync(MEASUREMENTS_FILE, `${JSON.stringify(measurement)}\n`);
}

export function readMeasurements(): Measurement[] {
  if (!existsSync(MEASUREMENTS_FILE)) return [];
  return readFileSync(MEASUREMENTS_FILE, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Measurement);
}
