/**
 * A file read in pieces at given offsets (positioned reads), opened on the first read and kept
 * open until closed; one per dictionary file, shared by every decoder that reads from it (a
 * cross-layer transcoder's W_dec_l file holds n_layers − l decoders). The size and modification
 * time seen when the dictionary was loaded are checked when the file is opened: a file replaced
 * since would give another file's bytes.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { EngineError } from '../errors.js';

export class PositionedFile {
  private fd: number | null = null;
  private readonly size: number;
  private readonly modified: number;

  constructor(
    readonly path: string,
    /** What the file is called in errors. */
    readonly label: string = path,
  ) {
    const stat = statSync(path);
    this.size = stat.size;
    this.modified = stat.mtimeMs;
  }

  /** `length` bytes from byte `offset`, in a buffer of their own. */
  read(offset: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    const fd = this.open();
    let done = 0;
    while (done < length) {
      const n = readSync(fd, bytes, done, length - done, offset + done);
      if (n === 0) throw new EngineError('CORRUPT_WEIGHTS', `${this.label}: the file ends before byte ${offset + length}.`, 'Download the dictionary again.');
      done += n;
    }
    return bytes;
  }

  /** Closes the file; a later read opens it again. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private open(): number {
    if (this.fd !== null) return this.fd;
    const fd = openSync(this.path, 'r');
    const now = fstatSync(fd);
    if (now.size !== this.size || now.mtimeMs !== this.modified) {
      closeSync(fd);
      throw new EngineError('CORRUPT_WEIGHTS', `${this.label} changed on disk after the dictionary was loaded.`, 'Load the dictionary again.');
    }
    this.fd = fd;
    return fd;
  }
}
