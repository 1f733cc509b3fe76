/**
 * Download speed and the progress line shown under window.withProgress:
 * "model.safetensors · 120 MB of 548 MB (21.9%) · 12.3 MB/s".
 * Speed is measured over a sliding window of recent samples, so a stall shows quickly.
 * Pure: no vscode import.
 */
import type { DownloadProgress } from '../../protocol/engine.js';
import { formatBytes } from '../format/token-text.js';

export class TransferRate {
  private samples: { t: number; bytes: number }[] = [];
  private total = 0;
  private lastFile: string | null = null;
  private lastDone = 0;

  constructor(private readonly windowMs = 5000) {}

  /** Records a progress event at time `nowMs`; bytes are counted across files. */
  sample(progress: DownloadProgress, nowMs: number): void {
    if (progress.file !== this.lastFile) {
      // A file's first event is the baseline: a resumed download starts at its partial size,
      // which was not transferred now.
      this.lastFile = progress.file;
      this.lastDone = progress.bytesDone;
    }
    this.total += Math.max(0, progress.bytesDone - this.lastDone);
    this.lastDone = progress.bytesDone;
    this.samples.push({ t: nowMs, bytes: this.total });
    while (this.samples.length > 2 && nowMs - (this.samples[0] as { t: number }).t > this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window, or null before two samples. */
  bytesPerSecond(): number | null {
    if (this.samples.length < 2) return null;
    const first = this.samples[0] as { t: number; bytes: number };
    const last = this.samples[this.samples.length - 1] as { t: number; bytes: number };
    const dt = last.t - first.t;
    return dt > 0 ? ((last.bytes - first.bytes) * 1000) / dt : null;
  }
}

export function progressMessage(progress: DownloadProgress, bytesPerSecond: number | null): string {
  const parts = [progress.file];
  if (progress.bytesTotal > 0) {
    const pct = Math.min(100, (progress.bytesDone / progress.bytesTotal) * 100);
    parts.push(`${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)} (${pct.toFixed(1)}%)`);
  } else {
    parts.push(formatBytes(progress.bytesDone));
  }
  if (bytesPerSecond !== null) parts.push(`${formatBytes(bytesPerSecond)}/s`);
  return parts.join(' · ');
}
