/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (random port), serving small generated repos
 * through the endpoints @huggingface/hub calls, with the Hub's headers:
 *
 *   GET  /api/models/{repo}/revision/{rev}        modelInfo (JSON with `sha` and `siblings`)
 *   POST /api/models/{repo}/paths-info/{rev}      pathsInfo (size, git oid, lfs {oid: sha256, size})
 *   GET  /api/models/{repo}/tree/{rev}            listFiles
 *   GET  /{repo}/resolve/{rev}/{file}             fileDownloadInfo / downloads: X-Repo-Commit, ETag,
 *                                                 and for LFS files X-Linked-Etag, X-Linked-Size and a
 *                                                 302 to /__lfs/... like the Hub's CDN redirect
 *
 * Bodies honour `Range: bytes=a-b` / `bytes=a-` with 206 and Content-Range. Errors carry the
 * Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound).
 *
 * Fault injection: cut the connection after N body bytes of a file (once), serve altered bytes
 * for a file (its sha256 no longer matches), slow a file down (small chunks with pauses), ignore
 * resume ranges, redirect LFS files to another server (a CDN on another origin), and a log of every
 * request with its Range and Authorization headers and the body bytes actually sent.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeHubFileSpec {
  /** Repo-relative path, e.g. `model.safetensors`. */
  path: string;
  content: Uint8Array;
  /** Stored with Git LFS (default: `*.safetensors`, as the Hub's .gitattributes does). */
  lfs?: boolean;
}

export interface FakeHubRepoSpec {
  /** Model id, e.g. `tiny/gpt2`. */
  id: string;
  /** 40-hex commit sha (default: derived from the id and contents). */
  commit?: string;
  files: FakeHubFileSpec[];
}

interface ServedFile {
  path: string;
  content: Buffer;
  lfs: boolean;
  sha256: string;
  /** Git blob sha1 of what git stores: the contents, or for LFS files the pointer file. */
  gitOid: string;
  pointerSize: number;
}

interface ServedRepo {
  id: string;
  commit: string;
  files: Map<string, ServedFile>;
}

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** Repo-relative file whose contents the request asked for (resolve or CDN), if any. */
  file: string | null;
  range: string | null;
  authorization: string | null;
  status: number;
  /** Body bytes of file contents actually written (0 for API calls). */
  bodyBytes: number;
}

function gitBlobSha1(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

function serve(file: FakeHubFileSpec): ServedFile {
  const content = Buffer.from(file.content);
  const lfs = file.lfs ?? file.path.endsWith('.safetensors');
  const sha256 = createHash('sha256').update(content).digest('hex');
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${content.byteLength}\n`;
  return {
    path: file.path,
    content,
    lfs,
    sha256,
    gitOid: lfs ? gitBlobSha1(Buffer.from(pointer)) : gitBlobSha1(content),
    pointerSize: Buffer.byteLength(pointer),
  };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class FakeHubServer {
  readonly requests: RecordedRequest[] = [];
  private readonly repos = new Map<string, ServedRepo>();
  private readonly cuts = new Map<string, number>();
  private readonly corrupted = new Set<string>();
  private readonly throttles = new Map<string, { chunkBytes: number; delayMs: number }>();
  private readonly rangeIgnored = new Set<string>();
  private lfsRedirectBase: string | null = null;
  private contentHeaders: Record<string, string> = {};
  private server: Server | null = null;
  private port = 0;

  /** Starts a server for `repos` on 127.0.0.1 at a free port. */
  static async start(repos: FakeHubRepoSpec[]): Promise<FakeHubServer> {
    const hub = new FakeHubServer();
    for (const repo of repos) hub.addRepo(repo);
    const server = createServer((req, res) => {
      hub.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hub.server = server;
    hub.port = (server.address() as AddressInfo).port;
    return hub;
  }

  /** Base URL to pass as `endpoint` / `hubUrl`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  addRepo(spec: FakeHubRepoSpec): void {
    const files = new Map(spec.files.map((file) => [file.path, serve(file)]));
    const commit =
      spec.commit ??
      createHash('sha1')
        .update(spec.id)
        .update(JSON.stringify([...files.values()].map((f) => [f.path, f.sha256])))
        .digest('hex');
    this.repos.set(spec.id, { id: spec.id, commit, files });
  }

  commitOf(repo: string): string {
    return this.repo(repo).commit;
  }

  /** The true contents, sha256 and git oid of a served file. */
  fileOf(repo: string, path: string): ServedFile {
    const file = this.repo(repo).files.get(path);
    if (!file) throw new Error(`fake hub: ${repo} has no ${path}`);
    return file;
  }

  /** The next body response for this file that is longer than `afterBytes` sends that many bytes, then drops the connection. */
  cutConnectionOnce(repo: string, path: string, afterBytes: number): void {
    this.fileOf(repo, path);
    this.cuts.set(`${repo}/${path}`, afterBytes);
  }

  /** Serve altered bytes (same size, different sha256) for this file until turned off. */
  corruptFile(repo: string, path: string, corrupt = true): void {
    this.fileOf(repo, path);
    if (corrupt) this.corrupted.add(`${repo}/${path}`);
    else this.corrupted.delete(`${repo}/${path}`);
  }

  /** Send this file's bodies in `chunkBytes` pieces with `delayMs` pauses (so a download can be cancelled mid-file). */
  throttleFile(repo: string, path: string, options: { chunkBytes: number; delayMs: number } | null): void {
    this.fileOf(repo, path);
    if (options) this.throttles.set(`${repo}/${path}`, options);
    else this.throttles.delete(`${repo}/${path}`);
  }

  /**
   * Answer resume requests (ranges not starting at byte 0) for this file with 200 and the whole
   * body, as some caching proxies do; the 1-byte size probe is still answered with 206.
   */
  ignoreResumeRanges(repo: string, path: string, ignore = true): void {
    this.fileOf(repo, path);
    if (ignore) this.rangeIgnored.add(`${repo}/${path}`);
    else this.rangeIgnored.delete(`${repo}/${path}`);
  }

  /**
   * Redirect LFS downloads to `base` (another server, e.g. a second FakeHubServer holding the same
   * repo, standing in for the Hub's CDN on another origin) instead of this server's /__lfs/.
   */
  redirectLfsTo(base: string | null): void {
    this.lfsRedirectBase = base;
  }

  /** Extra headers on every file-contents response, e.g. the `X-Cache: Hit from cloudfront` of the Hub's CDN. */
  setContentHeaders(headers: Record<string, string>): void {
    this.contentHeaders = { ...headers };
  }

  /** Requests that transferred contents of `path` (excluding the 1-byte `Range: bytes=0-0` size probes). */
  bodyRequests(path?: string): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.file !== null && (path === undefined || r.file === path) && r.range !== 'bytes=0-0' && r.method === 'GET' && r.status < 300,
    );
  }

  clearLog(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private repo(id: string): ServedRepo {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`fake hub: no repo ${id}`);
    return repo;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      file: null,
      range: typeof req.headers.range === 'string' ? req.headers.range : null,
      authorization: req.headers.authorization ?? null,
      status: 0,
      bodyBytes: 0,
    };
    this.requests.push(record);
    const url = new URL(req.url ?? '/', this.endpoint);
    const path = decodeURIComponent(url.pathname);

    if (path.startsWith('/api/models/')) return this.handleApi(req, res, path.slice('/api/models/'.length), record);
    const cdn = /^\/__lfs\/(.+)\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const repo = this.repos.get(cdn[1] ?? '');
      const file = repo ? [...repo.files.values()].find((f) => f.sha256 === cdn[2]) : undefined;
      if (!repo || !file) return this.error(res, record, 404, 'EntryNotFound', 'No such object');
      return this.sendContent(req, res, repo, file, { ETag: `"${file.sha256}"` }, record);
    }
    const resolveAt = path.indexOf('/resolve/');
    if (resolveAt > 0) {
      const repo = this.repos.get(path.slice(1, resolveAt));
      if (!repo) return this.error(res, record, 404, 'RepoNotFound', 'Repository not found');
      const rest = path.slice(resolveAt + '/resolve/'.length);
      const revision = this.matchRevision(repo, rest);
      if (!revision) return this.error(res, record, 404, 'RevisionNotFound', 'Invalid rev id');
      const file = repo.files.get(rest.slice(revision.length + 1));
      if (!file) return this.error(res, record, 404, 'EntryNotFound', 'Entry not found');
      const headers: Record<string, string> = { 'X-Repo-Commit': repo.commit };
      if (file.lfs) {
        // The Hub answers LFS files with a redirect to its CDN, carrying the real size and sha256.
        res.writeHead(302, {
          ...headers,
          ETag: `"${file.sha256}"`,
          'X-Linked-Etag': `"${file.sha256}"`,
          'X-Linked-Size': String(file.content.byteLength),
          Location: `${this.lfsRedirectBase ?? ''}/__lfs/${repo.id}/${file.sha256}`,
          'Content-Length': '0',
        });
        record.status = 302;
        res.end();
        return;
      }
      return this.sendContent(req, res, repo, file, { ...headers, ETag: `"${file.gitOid}"` }, record);
    }
    return this.error(res, record, 404, 'RepoNotFound', 'Not found');
  }

  /** The revision that `rest` (`{rev}/...` or `{rev}`) starts with, if the repo has it: `main` or the commit. */
  private matchRevision(repo: ServedRepo, rest: string): string | null {
    for (const revision of ['main', repo.commit]) {
      if (rest === revision || rest.startsWith(`${revision}/`)) return revision;
    }
    return null;
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse, rest: string, record: RecordedRequest): Promise<void> {
    const match = /^(.+?)\/(revision|paths-info|tree)\/(.+)$/.exec(rest);
    const repo = match?.[1] ? this.repos.get(match[1]) : undefined;
    if (!match || !repo) return this.error(res, record, 404, 'RepoNotFound', 'Repository not found');
    const kind = match[2];
    const revisionAndPath = match[3] ?? '';
    const revision = this.matchRevision(repo, revisionAndPath);
    if (!revision) return this.error(res, record, 404, 'RevisionNotFound', `Invalid rev id: ${revisionAndPath}`);

    if (kind === 'revision') {
      return this.json(res, record, {
        _id: createHash('sha1').update(repo.id).digest('hex').slice(0, 24),
        id: repo.id,
        modelId: repo.id,
        sha: repo.commit,
        private: false,
        gated: false,
        disabled: false,
        downloads: 0,
        likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z',
        pipeline_tag: 'text-generation',
        tags: [],
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    const entry = (file: ServedFile): Record<string, unknown> => ({
      type: 'file',
      path: file.path,
      oid: file.gitOid,
      size: file.content.byteLength,
      ...(file.lfs ? { lfs: { oid: file.sha256, size: file.content.byteLength, pointerSize: file.pointerSize } } : {}),
    });
    if (kind === 'paths-info') {
      if (req.method !== 'POST') return this.error(res, record, 405, 'MethodNotAllowed', 'POST only');
      const body = await readBody(req);
      const paths = (JSON.parse(body || '{}') as { paths?: unknown }).paths;
      if (!Array.isArray(paths)) return this.error(res, record, 400, 'BadRequest', 'paths must be an array');
      // The Hub leaves paths that do not exist out of the answer.
      return this.json(
        res,
        record,
        paths.flatMap((p) => {
          const file = typeof p === 'string' ? repo.files.get(p) : undefined;
          return file ? [entry(file)] : [];
        }),
      );
    }
    return this.json(res, record, [...repo.files.values()].map(entry));
  }

  private async sendContent(
    req: IncomingMessage,
    res: ServerResponse,
    repo: ServedRepo,
    file: ServedFile,
    headers: Record<string, string>,
    record: RecordedRequest,
  ): Promise<void> {
    const key = `${repo.id}/${file.path}`;
    record.file = file.path;
    let content = file.content;
    if (this.corrupted.has(key)) {
      content = Buffer.from(content);
      for (let i = 0; i < content.length; i += 97) content[i] = (content[i] ?? 0) ^ 0xff;
    }
    const size = content.byteLength;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const ignoreRange = this.rangeIgnored.has(key) && record.range !== null && !record.range.startsWith('bytes=0-');
    if (record.range !== null && !ignoreRange) {
      const range = /^bytes=(\d+)-(\d*)$/.exec(record.range);
      const from = range ? Number(range[1]) : NaN;
      if (!range || !(from < size)) {
        record.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      start = from;
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      status = 206;
    }
    record.status = status;
    res.writeHead(status, {
      ...headers,
      ...this.contentHeaders,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let body = content.subarray(start, end + 1);
    const cut = this.cuts.get(key);
    const cutAfter = cut !== undefined && body.byteLength > cut ? cut : null;
    if (cutAfter !== null) {
      this.cuts.delete(key);
      body = body.subarray(0, cutAfter);
    }
    const throttle = this.throttles.get(key);
    const chunkBytes = throttle?.chunkBytes ?? body.byteLength;
    for (let offset = 0; offset < body.byteLength && !res.destroyed; offset += chunkBytes) {
      const chunk = body.subarray(offset, offset + chunkBytes);
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      record.bodyBytes += chunk.byteLength;
      if (throttle) await delay(throttle.delayMs);
    }
    if (cutAfter !== null) {
      res.socket?.destroy(); // mid-body: the client sees fewer bytes than Content-Length
      return;
    }
    res.end();
  }

  private json(res: ServerResponse, record: RecordedRequest, value: unknown): void {
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(value));
  }

  private error(res: ServerResponse, record: RecordedRequest, status: number, code: string, message: string): void {
    record.status = status;
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'X-Error-Code': code, 'X-Error-Message': message });
    res.end(JSON.stringify({ error: message }));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Deterministic pseudo-random bytes (mulberry32), so fixtures are the same every run. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

/** A valid safetensors file holding one F32 tensor `name` of `count` seeded values. */
export function tinySafetensors(name: string, count: number, seed: number): Uint8Array {
  const header = Buffer.from(JSON.stringify({ [name]: { dtype: 'F32', shape: [count], data_offsets: [0, count * 4] } }));
  const padded = Buffer.concat([header, Buffer.alloc((8 - (header.byteLength % 8)) % 8, 0x20)]); // spaces keep it JSON
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.byteLength));
  return Buffer.concat([length, padded, seededBytes(count * 4, seed)]);
}

/**
 * The files of a tiny GPT-2-shaped repo: config.json, tokenizer.json, tokenizer_config.json and
 * either model.safetensors or model.safetensors.index.json with two shards.
 */
export function tinyModelFiles(options: { weightBytes?: number; sharded?: boolean; seed?: number } = {}): FakeHubFileSpec[] {
  const floats = Math.max(1, Math.floor((options.weightBytes ?? 96 * 1024) / 4));
  const seed = options.seed ?? 1;
  const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value, null, 2));
  const files: FakeHubFileSpec[] = [
    { path: 'config.json', content: json({ model_type: 'gpt2', n_layer: 1, n_head: 2, n_embd: 8, n_positions: 16, vocab_size: 4, seed }) },
    { path: 'tokenizer.json', content: json({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1, c: 2, '<|endoftext|>': 3 }, merges: [] }, seed }) },
    { path: 'tokenizer_config.json', content: json({ model_max_length: 16 }) },
  ];
  if (!options.sharded) return [...files, { path: 'model.safetensors', content: tinySafetensors('wte.weight', floats, seed) }];
  const half = Math.ceil(floats / 2);
  return [
    ...files,
    {
      path: 'model.safetensors.index.json',
      content: json({
        metadata: { total_size: floats * 4 },
        weight_map: { 'wte.weight': 'model-00001-of-00002.safetensors', 'wpe.weight': 'model-00002-of-00002.safetensors' },
      }),
    },
    { path: 'model-00001-of-00002.safetensors', content: tinySafetensors('wte.weight', half, seed) },
    { path: 'model-00002-of-00002.safetensors', content: tinySafetensors('wpe.weight', floats - half, seed + 1) },
  ];
}
