/**
 * Hub downloads against a local fake Hub (127.0.0.1 only): the cache layout Python's
 * huggingface_hub writes, progress, cache hits, resume after a cut or a cancel, checksum
 * failures, offline mode, error mapping, and listing / deleting cached models.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DownloadProgress } from '../../../../src/protocol/engine.js';
import { isEngineError, type EngineErrorCode } from '../../../../src/engine/errors.js';
import {
  deleteCachedModel,
  listCachedModels,
  missingModelFiles,
  placeBlobInSnapshot,
  repoFolderName,
  resolveCachedSnapshot,
  resolveHubCacheDir,
} from '../../../../src/engine/model/hub/cache-layout.js';
import { downloadModel, type DownloadModelOptions } from '../../../../src/engine/model/hub/download.js';
import { FakeHubServer, tinyModelFiles, type FakeHubRepoSpec } from '../../../helpers/fake-hub-server.js';

const REPO = 'tiny-org/tiny-gpt2';
const temporaryDirs: string[] = [];

after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});

async function tempCache(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ct-hub-cache-'));
  temporaryDirs.push(dir);
  return join(dir, 'hub');
}

/** fetch that refuses anything but the local fake Hub, so no test can reach the internet. */
const localFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1') throw new Error(`test tried to reach ${url.href}`);
  return fetch(input, init);
};

async function withHub(repos: FakeHubRepoSpec[], run: (hub: FakeHubServer, cacheDir: string) => Promise<void>): Promise<void> {
  const hub = await FakeHubServer.start(repos);
  try {
    await run(hub, await tempCache());
  } finally {
    await hub.close();
  }
}

function options(hub: FakeHubServer, cacheDir: string, extra: DownloadModelOptions = {}): DownloadModelOptions {
  return { cacheDir, endpoint: hub.endpoint, offline: false, fetch: localFetch, ...extra };
}

function engineErrorWith(code: EngineErrorCode, ...mentions: string[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isEngineError(error), `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const text of mentions) assert.ok(error.message.includes(text), `"${error.message}" should mention "${text}"`);
    return true;
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

describe('downloadModel', () => {
  test('fresh download writes the layout huggingface_hub writes, with monotone progress reaching each total', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      // Small pieces with pauses, so the weights arrive in several reads as over a real network.
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 16_384, delayMs: 5 });
      const progress: DownloadProgress[] = [];
      const folder = await downloadModel(REPO, options(hub, cacheDir, { onProgress: (p) => progress.push({ ...p }) }));

      const commit = hub.commitOf(REPO);
      const repoDir = join(cacheDir, 'models--tiny-org--tiny-gpt2');
      assert.equal(folder, join(repoDir, 'snapshots', commit));
      assert.equal(await readFile(join(repoDir, 'refs', 'main'), 'utf8'), commit); // no newline, as Python writes it

      for (const path of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
        const served = hub.fileOf(REPO, path);
        const etag = served.lfs ? served.sha256 : served.gitOid;
        const link = join(folder, path);
        assert.ok((await lstat(link)).isSymbolicLink(), `${path} is a symlink`);
        assert.equal(await readlink(link), join('..', '..', 'blobs', etag));
        assert.deepEqual(await readFile(link), served.content);
        assert.deepEqual(await readFile(join(repoDir, 'blobs', etag)), served.content);
      }
      assert.equal(hub.fileOf(REPO, 'model.safetensors').lfs, true);
      assert.equal((await readdir(join(repoDir, 'blobs'))).filter((name) => name.endsWith('.incomplete')).length, 0);

      for (const path of ['config.json', 'tokenizer.json', 'model.safetensors']) {
        const reports = progress.filter((p) => p.file === path);
        const total = hub.fileOf(REPO, path).content.byteLength;
        assert.ok(reports.length >= 2, `${path}: start and end reported`);
        for (const [i, report] of reports.entries()) {
          assert.equal(report.bytesTotal, total);
          if (i > 0) assert.ok(report.bytesDone > (reports[i - 1]?.bytesDone ?? -1), `${path}: progress strictly increases`);
        }
        assert.equal(reports.at(-1)?.bytesDone, total);
      }
      assert.ok(progress.filter((p) => p.file === 'model.safetensors').length > 2, 'progress is reported while the weights stream in');
    });
  });

  test('second call is a cache hit: one metadata request, no file transfers; a commit revision needs no request at all', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      const first = await downloadModel(REPO, options(hub, cacheDir));
      hub.clearLog();
      assert.equal(await downloadModel(REPO, options(hub, cacheDir)), first);
      assert.equal(hub.requests.length, 1);
      assert.match(hub.requests[0]?.url ?? '', /^\/api\/models\/tiny-org\/tiny-gpt2\/revision\/main/);
      assert.equal(hub.bodyRequests().length, 0);

      hub.clearLog();
      assert.equal(await downloadModel(REPO, options(hub, cacheDir, { revision: hub.commitOf(REPO) })), first);
      assert.equal(hub.requests.length, 0);
    });
  });

  test('a connection cut mid-file fails with DOWNLOAD_FAILED, and the next call resumes with a Range request', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles({ weightBytes: 200_000 }) }], async (hub, cacheDir) => {
      const weights = hub.fileOf(REPO, 'model.safetensors');
      const repoDir = join(cacheDir, repoFolderName(REPO));
      const partial = join(repoDir, 'blobs', `${weights.sha256}.incomplete`);
      hub.cutConnectionOnce(REPO, 'model.safetensors', 70_000);
      // Pieces with pauses, so bytes reach the client before the cut (a client may drop data it
      // had not read yet when the connection dies).
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 8192, delayMs: 2 });

      await assert.rejects(downloadModel(REPO, options(hub, cacheDir)), engineErrorWith('DOWNLOAD_FAILED', 'model.safetensors'));
      const kept = (await stat(partial)).size;
      assert.ok(kept > 0 && kept <= 70_000, `partial file keeps what arrived (${kept} bytes)`);
      assert.deepEqual(await readFile(partial), weights.content.subarray(0, kept));
      assert.equal(await exists(join(repoDir, 'snapshots', hub.commitOf(REPO), 'model.safetensors')), false);
      assert.equal(await exists(join(repoDir, 'refs', 'main')), false, 'the ref is written only for a complete snapshot');
      assert.equal(await resolveCachedSnapshot(REPO, { cacheDir }), null);

      hub.throttleFile(REPO, 'model.safetensors', null);
      hub.clearLog();
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      const transfers = hub.bodyRequests('model.safetensors');
      assert.equal(transfers.length, 1);
      assert.equal(transfers[0]?.range, `bytes=${kept}-`);
      assert.equal(transfers[0]?.status, 206);
      assert.equal(transfers[0]?.bodyBytes, weights.content.byteLength - kept);
      assert.ok((transfers[0]?.bodyBytes ?? Infinity) < weights.content.byteLength);
      assert.equal(hub.bodyRequests('config.json').length, 0, 'finished files are not fetched again');
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
      assert.equal(await exists(partial), false);
    });
  });

  test('a server that ignores the resume range (200, whole body) restarts the file from byte 0 correctly', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles({ weightBytes: 50_000 }) }], async (hub, cacheDir) => {
      const weights = hub.fileOf(REPO, 'model.safetensors');
      // An interrupted earlier download left the first 20 000 bytes.
      const blobs = join(cacheDir, repoFolderName(REPO), 'blobs');
      await mkdir(blobs, { recursive: true });
      await writeFile(join(blobs, `${weights.sha256}.incomplete`), weights.content.subarray(0, 20_000));
      hub.ignoreResumeRanges(REPO, 'model.safetensors');
      const progress: DownloadProgress[] = [];
      const folder = await downloadModel(REPO, options(hub, cacheDir, { onProgress: (p) => progress.push({ ...p }) }));
      const transfer = hub.bodyRequests('model.safetensors')[0];
      assert.equal(transfer?.range, 'bytes=20000-');
      assert.equal(transfer?.status, 200);
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
      const reports = progress.filter((p) => p.file === 'model.safetensors').map((p) => p.bytesDone);
      assert.equal(reports[0], 0, 'progress starts at 0: the discarded partial is not counted');
      assert.deepEqual(
        reports,
        [...reports].sort((a, b) => a - b),
      );
      assert.equal(reports.at(-1), weights.content.byteLength);
    });
  });

  test('an LFS file whose sha256 does not match fails with CHECKSUM_MISMATCH and leaves nothing for it', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      const weights = hub.fileOf(REPO, 'model.safetensors');
      const repoDir = join(cacheDir, repoFolderName(REPO));
      hub.corruptFile(REPO, 'model.safetensors');
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir)), engineErrorWith('CHECKSUM_MISMATCH', 'model.safetensors', weights.sha256));
      const blobs = await readdir(join(repoDir, 'blobs'));
      assert.equal(blobs.filter((name) => name.startsWith(weights.sha256)).length, 0, 'no blob and no partial');
      assert.equal(await exists(join(repoDir, 'snapshots', hub.commitOf(REPO), 'model.safetensors')), false);

      hub.corruptFile(REPO, 'model.safetensors', false);
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
    });
  });

  test('a regular (non-LFS) file is verified by its git blob sha1', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      hub.corruptFile(REPO, 'tokenizer.json');
      await assert.rejects(
        downloadModel(REPO, options(hub, cacheDir)),
        engineErrorWith('CHECKSUM_MISMATCH', 'tokenizer.json', hub.fileOf(REPO, 'tokenizer.json').gitOid),
      );
      assert.equal(hub.bodyRequests('model.safetensors').length, 0, 'the weights are not fetched after a small file failed');
    });
  });

  test('offline with a complete cache serves it without a single request; HF_HUB_OFFLINE=1 does the same', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      hub.clearLog();
      assert.equal(await downloadModel(REPO, options(hub, cacheDir, { offline: true })), folder);
      assert.equal(hub.requests.length, 0);

      const saved = process.env['HF_HUB_OFFLINE'];
      process.env['HF_HUB_OFFLINE'] = '1';
      try {
        const { offline: _ignored, ...rest } = options(hub, cacheDir);
        assert.equal(await downloadModel(REPO, rest), folder);
      } finally {
        if (saved === undefined) delete process.env['HF_HUB_OFFLINE'];
        else process.env['HF_HUB_OFFLINE'] = saved;
      }
      assert.equal(hub.requests.length, 0);
    });
  });

  test('offline with an empty cache fails with OFFLINE naming the missing files, without a request', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      await assert.rejects(
        downloadModel(REPO, options(hub, cacheDir, { offline: true })),
        engineErrorWith('OFFLINE', 'config.json', 'tokenizer.json', 'model.safetensors', 'huggingface-cli download tiny-org/tiny-gpt2'),
      );
      assert.equal(hub.requests.length, 0);
    });
  });

  test('cancelling mid-file fails with CANCELLED, keeps the partial file, and the next call resumes it', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles({ weightBytes: 120_000 }) }], async (hub, cacheDir) => {
      const weights = hub.fileOf(REPO, 'model.safetensors');
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 4096, delayMs: 2 });
      const controller = new AbortController();
      const onProgress = (p: DownloadProgress): void => {
        if (p.file === 'model.safetensors' && p.bytesDone >= 20_000) controller.abort();
      };
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir, { signal: controller.signal, onProgress })), engineErrorWith('CANCELLED'));
      const partial = join(cacheDir, repoFolderName(REPO), 'blobs', `${weights.sha256}.incomplete`);
      const kept = (await stat(partial)).size;
      assert.ok(kept >= 20_000 && kept < weights.content.byteLength, `partial kept (${kept} bytes)`);

      hub.throttleFile(REPO, 'model.safetensors', null);
      hub.clearLog();
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      assert.equal(hub.bodyRequests('model.safetensors')[0]?.range, `bytes=${kept}-`);
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
    });
  });

  test('two concurrent loads of one model share the download instead of corrupting each other', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles({ weightBytes: 100_000 }) }], async (hub, cacheDir) => {
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 8192, delayMs: 2 });
      const [a, b] = await Promise.all([downloadModel(REPO, options(hub, cacheDir)), downloadModel(REPO, options(hub, cacheDir))]);
      assert.equal(a, b);
      assert.deepEqual(await readFile(join(a, 'model.safetensors')), hub.fileOf(REPO, 'model.safetensors').content);
      assert.equal(hub.bodyRequests('model.safetensors').length, 1);
    });
  });

  test('an already-aborted signal fails with CANCELLED before any request', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir, { signal: AbortSignal.abort() })), engineErrorWith('CANCELLED'));
      assert.equal(hub.requests.length, 0);
    });
  });

  test('an unknown repo fails with MODEL_NOT_FOUND', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      await assert.rejects(downloadModel('nobody/no-such-model', options(hub, cacheDir)), engineErrorWith('MODEL_NOT_FOUND', 'nobody/no-such-model'));
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir, { revision: 'no-such-branch' })), engineErrorWith('MODEL_NOT_FOUND'));
    });
  });

  test('a repo without safetensors or tokenizer.json fails with MODEL_FILE_MISSING before downloading weights', async () => {
    const noTokenizer = tinyModelFiles().filter((f) => f.path !== 'tokenizer.json');
    const noWeights = tinyModelFiles().filter((f) => f.path !== 'model.safetensors');
    await withHub(
      [
        { id: 'a/no-tokenizer', files: noTokenizer },
        { id: 'a/no-weights', files: noWeights },
      ],
      async (hub, cacheDir) => {
        await assert.rejects(downloadModel('a/no-tokenizer', options(hub, cacheDir)), engineErrorWith('MODEL_FILE_MISSING', 'tokenizer.json'));
        await assert.rejects(downloadModel('a/no-weights', options(hub, cacheDir)), engineErrorWith('MODEL_FILE_MISSING', 'model.safetensors'));
        assert.equal(hub.bodyRequests().length, 0);
      },
    );
  });

  test('when the Hub is unreachable a complete cached snapshot is used; without one it is DOWNLOAD_FAILED', async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles() }]);
    const cacheDir = await tempCache();
    const folder = await downloadModel(REPO, options(hub, cacheDir));
    await hub.close(); // nothing listens on the port any more: connection refused
    assert.equal(await downloadModel(REPO, options(hub, cacheDir)), folder);
    await assert.rejects(downloadModel(REPO, options(hub, await tempCache())), engineErrorWith('DOWNLOAD_FAILED', hub.endpoint, 'offline'));
  });

  test('an unwritable cache is reported as a cache problem, not a network one', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      await mkdir(join(cacheDir, '..'), { recursive: true });
      await writeFile(cacheDir, 'a file where the cache folder should be');
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir)), (error) => {
        assert.ok(isEngineError(error) && error.code === 'DOWNLOAD_FAILED', String(error));
        assert.match(error.message, /Hugging Face cache failed/);
        assert.match(error.message, /HF_HUB_CACHE/);
        return true;
      });
    });
  });

  test('an access token goes to every Hub request as a Bearer token; a malformed one is BAD_ARGUMENT', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      await downloadModel(REPO, options(hub, cacheDir, { accessToken: 'hf_local_test_token' }));
      assert.ok(hub.requests.length > 0);
      for (const request of hub.requests) assert.equal(request.authorization, 'Bearer hf_local_test_token', request.url);
      await assert.rejects(downloadModel(REPO, options(hub, await tempCache(), { accessToken: 'not-a-token' })), engineErrorWith('BAD_ARGUMENT', 'hf_'));
    });
  });

  test("the access token never leaves the Hub's origin: a CDN on another port that answers as CloudFront gets no Authorization", async () => {
    const cdn = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles() }]);
    cdn.setContentHeaders({ 'X-Cache': 'Hit from cloudfront' }); // the header that makes the library hand out the CDN URL
    /** A fetch that keeps every header on redirects, as some fetch implementations and proxies do. */
    const headerKeepingFetch: typeof fetch = async (input, init) => {
      let url = String(input instanceof Request ? input.url : input);
      for (let hop = 0; hop < 5; hop++) {
        const response = await localFetch(url, { ...init, redirect: 'manual' });
        const location = response.headers.get('location');
        if (init?.redirect === 'manual' || response.status < 300 || response.status >= 400 || !location) return response;
        url = new URL(location, url).href;
      }
      throw new Error('too many redirects');
    };
    try {
      for (const fetchImplementation of [localFetch, headerKeepingFetch]) {
        await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
          hub.redirectLfsTo(cdn.endpoint);
          cdn.clearLog();
          const folder = await downloadModel(REPO, options(hub, cacheDir, { accessToken: 'hf_local_test_token', fetch: fetchImplementation }));
          assert.deepEqual(await readFile(join(folder, 'model.safetensors')), hub.fileOf(REPO, 'model.safetensors').content);
          assert.ok(cdn.bodyRequests('model.safetensors').length > 0, 'the weights came from the CDN');
          for (const request of cdn.requests) assert.equal(request.authorization, null, `the CDN got the token with ${request.url}`);
          for (const request of hub.requests) assert.equal(request.authorization, 'Bearer hf_local_test_token', request.url);
        });
      }
    } finally {
      await cdn.close();
    }
  });

  test('a sharded checkpoint brings its index and every shard', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles({ sharded: true }) }], async (hub, cacheDir) => {
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      for (const path of ['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
        assert.deepEqual(await readFile(join(folder, path)), hub.fileOf(REPO, path).content);
      }
      assert.deepEqual(await missingModelFiles(folder), []);
      await rm(join(folder, 'model-00002-of-00002.safetensors'));
      assert.deepEqual(await missingModelFiles(folder), ['model-00002-of-00002.safetensors']);
    });
  });

  test('shards in a subfolder of the repo are downloaded into the same subfolder of the snapshot', async () => {
    const files = tinyModelFiles({ sharded: true }).map((file) => {
      if (file.path.endsWith('.index.json')) {
        const index = JSON.parse(Buffer.from(file.content).toString('utf8')) as { weight_map: Record<string, string> };
        const weightMap = Object.fromEntries(Object.entries(index.weight_map).map(([name, shard]) => [name, `shards/${shard}`]));
        return { ...file, content: Buffer.from(JSON.stringify({ ...index, weight_map: weightMap })) };
      }
      return file.path.startsWith('model-') ? { ...file, path: `shards/${file.path}` } : file;
    });
    await withHub([{ id: REPO, files }], async (hub, cacheDir) => {
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      for (const path of ['shards/model-00001-of-00002.safetensors', 'shards/model-00002-of-00002.safetensors']) {
        assert.deepEqual(await readFile(join(folder, path)), hub.fileOf(REPO, path).content);
      }
      assert.deepEqual(await missingModelFiles(folder), []);
    });
  });

  test('bad ids and revisions are BAD_ARGUMENT before any request', async () => {
    await withHub([], async (hub, cacheDir) => {
      for (const repo of ['../etc', 'a/b/c', '/abs/path', 'a--b/c', '']) {
        await assert.rejects(downloadModel(repo, options(hub, cacheDir)), engineErrorWith('BAD_ARGUMENT'));
      }
      await assert.rejects(downloadModel(REPO, options(hub, cacheDir, { revision: '../../x' })), engineErrorWith('BAD_ARGUMENT'));
      assert.equal(hub.requests.length, 0);
    });
  });
});

describe('hub cache layout', () => {
  test('the cache folder follows huggingface_hub precedence', () => {
    assert.equal(resolveHubCacheDir('/explicit', { HF_HUB_CACHE: '/a', HF_HOME: '/b' }), '/explicit');
    assert.equal(resolveHubCacheDir(undefined, { HF_HUB_CACHE: '/a', HF_HOME: '/b' }), '/a');
    assert.equal(resolveHubCacheDir(undefined, { HF_HOME: '/b', XDG_CACHE_HOME: '/x' }), '/b/hub');
    assert.equal(resolveHubCacheDir(undefined, { XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
    assert.match(resolveHubCacheDir(undefined, {}), /\.cache\/huggingface\/hub$/);
  });

  test('a cache written by Python huggingface_hub is reused offline and online', async () => {
    await withHub([{ id: REPO, files: tinyModelFiles() }], async (hub, cacheDir) => {
      // Lay the cache out by hand as huggingface_hub does: blobs by etag, relative links, refs/main.
      const commit = hub.commitOf(REPO);
      const repoDir = join(cacheDir, 'models--tiny-org--tiny-gpt2');
      await mkdir(join(repoDir, 'blobs'), { recursive: true });
      await mkdir(join(repoDir, 'snapshots', commit), { recursive: true });
      await mkdir(join(repoDir, 'refs'), { recursive: true });
      for (const path of ['config.json', 'tokenizer.json', 'model.safetensors']) {
        const served = hub.fileOf(REPO, path);
        const etag = served.lfs ? served.sha256 : served.gitOid;
        await writeFile(join(repoDir, 'blobs', etag), served.content);
        await symlink(`../../blobs/${etag}`, join(repoDir, 'snapshots', commit, path));
      }
      await writeFile(join(repoDir, 'refs', 'main'), commit);

      const expected = join(repoDir, 'snapshots', commit);
      assert.equal(await downloadModel(REPO, options(hub, cacheDir, { offline: true })), expected);
      assert.equal(hub.requests.length, 0);
      assert.equal(await downloadModel(REPO, options(hub, cacheDir)), expected);
      assert.equal(hub.bodyRequests().length, 0);
    });
  });

  test('without symlinks a new blob is moved into the snapshot and a shared blob is copied', async () => {
    const dir = await tempCache();
    await mkdir(join(dir, 'blobs'), { recursive: true });
    const fresh = join(dir, 'blobs', 'fresh');
    const shared = join(dir, 'blobs', 'shared');
    await writeFile(fresh, 'fresh bytes');
    await writeFile(shared, 'shared bytes');
    await placeBlobInSnapshot(fresh, join(dir, 'snapshots', 'c', 'a.json'), { newBlob: true, allowSymlinks: false });
    await placeBlobInSnapshot(shared, join(dir, 'snapshots', 'c', 'sub', 'b.json'), { newBlob: false, allowSymlinks: false });
    assert.equal(await exists(fresh), false);
    assert.equal(await readFile(join(dir, 'snapshots', 'c', 'a.json'), 'utf8'), 'fresh bytes');
    assert.equal(await readFile(shared, 'utf8'), 'shared bytes');
    assert.equal(await readFile(join(dir, 'snapshots', 'c', 'sub', 'b.json'), 'utf8'), 'shared bytes');
    assert.equal((await lstat(join(dir, 'snapshots', 'c', 'sub', 'b.json'))).isSymbolicLink(), false);
  });

  test('lists cached models with their size on disk and deletes one, refusing paths outside the cache', async () => {
    const other = 'gpt2';
    await withHub(
      [
        { id: REPO, files: tinyModelFiles() },
        { id: other, files: tinyModelFiles({ weightBytes: 10_000, seed: 7 }) },
      ],
      async (hub, cacheDir) => {
        assert.deepEqual(await listCachedModels({ cacheDir }), []);
        await downloadModel(REPO, options(hub, cacheDir));
        await downloadModel(other, options(hub, cacheDir));
        // An interrupted download of a third model counts as partial, not complete.
        const third = 'x/partial';
        hub.addRepo({ id: third, files: tinyModelFiles({ seed: 3 }) });
        hub.cutConnectionOnce(third, 'model.safetensors', 1000);
        await assert.rejects(downloadModel(third, options(hub, cacheDir)), engineErrorWith('DOWNLOAD_FAILED'));

        const listed = await listCachedModels({ cacheDir });
        assert.deepEqual(
          listed.map((m) => m.repo),
          ['gpt2', REPO, third].sort((a, b) => a.localeCompare(b)),
        );
        for (const id of [REPO, other]) {
          const model = listed.find((m) => m.repo === id);
          const expectedBytes = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].reduce(
            (sum, p) => sum + hub.fileOf(id, p).content.byteLength,
            0,
          );
          // The blobs plus refs/main (a 40-byte commit sha); snapshot symlinks take no space.
          assert.equal(model?.sizeOnDisk, expectedBytes + 40);
          assert.equal(model?.folder, join(cacheDir, repoFolderName(id)));
          assert.deepEqual(
            model?.snapshots.map((s) => ({ commit: s.commit, refs: s.refs, complete: s.complete })),
            [{ commit: hub.commitOf(id), refs: ['main'], complete: true }],
          );
          assert.equal(model?.partialDownloads, 0);
        }
        const partial = listed.find((m) => m.repo === third);
        assert.equal(partial?.partialDownloads, 1);
        assert.deepEqual(
          partial?.snapshots.map((s) => s.complete),
          [false],
        );

        for (const bad of ['../outside', '/etc', '..', 'a/../../b']) {
          await assert.rejects(deleteCachedModel(bad, { cacheDir }), engineErrorWith('BAD_ARGUMENT'));
        }
        assert.equal(await deleteCachedModel(REPO, { cacheDir }), true);
        assert.equal(await exists(join(cacheDir, repoFolderName(REPO))), false);
        assert.equal(await deleteCachedModel(REPO, { cacheDir }), false);
        assert.deepEqual(
          (await listCachedModels({ cacheDir })).map((m) => m.repo),
          ['gpt2', third],
        );
      },
    );
  });
});
