/** `coffre upload` and the reusable uploadFiles(): checksums per chunk, parallel files, resume. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { uploadFiles } from '../../src/gateway/index.ts';
import { startGateway, type GatewayTestPlatform } from './helpers.ts';
import { tempDir } from '../helpers/tmp.ts';

const MiB = 2 ** 20;
const run = promisify(execFile);

describe('coffre upload', () => {
  let p: GatewayTestPlatform;
  let token: string;
  let proxy: Server;
  let proxyUrl: string;
  const seen: { method: string; checksum?: string; offset?: string }[] = [];
  const dir = tempDir();
  const file = (name: string, size: number) => {
    const path = join(dir.path, name);
    writeFileSync(path, randomBytes(size));
    return path;
  };
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const infoOf = (sub: string, url: string) => JSON.parse(readFileSync(join(p.staging, sub, `${url.split('/').pop()}.info`), 'utf8'));

  before(async () => {
    p = await startGateway('sqlite');
    token = await p.token({ space: 'alice' });
    // A recording proxy in front of the gateway: what the client really sends.
    const target = new URL(p.url);
    proxy = createServer((req, res) => {
      seen.push({ method: req.method!, checksum: req.headers['upload-checksum'] as string, offset: req.headers['upload-offset'] as string });
      const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        const headers = { ...r.headers };
        if (headers.location) headers.location = headers.location.replace(p.url, proxyUrl);
        res.writeHead(r.statusCode!, headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  });
  after(async () => {
    proxy.close();
    await p.close();
    dir.cleanup();
  });

  test('several files in parallel, a checksum on every chunk, private and extra metadata', async () => {
    const files = [file('a.bin', 3 * MiB + 5), file('b.bin', MiB), file('c.bin', 0)];
    seen.length = 0;
    const results = await uploadFiles({
      endpoint: `${proxyUrl}/files/`,
      token,
      files,
      private: true,
      metadata: { project: 'x' },
      parallel: 3,
      chunkSize: MiB,
      statePath: join(dir.path, 'state1.json'),
    });
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.equal(r.error, undefined);
      const info = infoOf('alice', r.url!);
      assert.equal(info.digest.value, sha(r.file));
      assert.equal(info.metadata.project, 'x');
      assert.equal(info.metadata.private, 'true');
    }
    const patches = seen.filter((s) => s.method === 'PATCH');
    assert.ok(patches.length >= 5, `${patches.length} PATCHes`);
    for (const s of patches) assert.match(s.checksum ?? '', /^sha256 [A-Za-z0-9+/]+=*$/);
  });

  test('an interrupted upload resumes from the remembered URL; a finished one is not sent again', async () => {
    const path = file('resume.bin', 6 * MiB);
    const statePath = join(dir.path, 'state2.json');
    const abort = new AbortController();
    const first = await uploadFiles({
      endpoint: `${proxyUrl}/files/`,
      token,
      files: [path],
      chunkSize: MiB,
      statePath,
      signal: abort.signal,
      onProgress: (_f, sent) => {
        if (sent >= 2 * MiB) abort.abort();
      },
    });
    assert.ok(first[0].error, 'the first run was interrupted');
    const stored = JSON.parse(readFileSync(statePath, 'utf8'));
    assert.equal(Object.keys(stored.uploads).length, 1, 'the URL is remembered by fingerprint');
    seen.length = 0;
    const second = await uploadFiles({ endpoint: `${proxyUrl}/files/`, token, files: [path], chunkSize: MiB, statePath });
    assert.equal(second[0].error, undefined);
    assert.equal(second[0].resumed, true);
    assert.equal(second[0].url, first[0].url);
    assert.ok(!seen.some((s) => s.method === 'PATCH' && s.offset === '0'), 'the first bytes were not sent again');
    assert.equal(infoOf('public', second[0].url!).digest.value, sha(path));
    seen.length = 0;
    const third = await uploadFiles({ endpoint: `${proxyUrl}/files/`, token, files: [path], chunkSize: MiB, statePath });
    assert.equal(third[0].resumed, true);
    assert.equal(seen.filter((s) => s.method === 'PATCH' || s.method === 'POST').length, 0);
  });

  test('the command line: uploads, prints each URL, and refuses bad input with one line', async () => {
    const a = file('cli-a.txt', 1000);
    const b = file('cli-b.txt', 2000);
    const state = join(dir.path, 'cli-state.json');
    const { stdout } = await run(process.execPath, ['bin/coffre.js', 'upload', a, b, '--url', `${p.url}/files/`, '--token', token, '--state', state, '--metadata', 'k=v']);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const [path, url] = line.split(' ');
      assert.equal(infoOf('public', url).digest.value, sha(path));
      assert.equal(infoOf('public', url).metadata.k, 'v');
    }
    await assert.rejects(run(process.execPath, ['bin/coffre.js', 'upload', a, '--url', `${p.url}/files/`, '--state', state]), (err: any) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /--token is required/);
      assert.equal(err.stderr.trim().split('\n').length, 1);
      return true;
    });
    await assert.rejects(run(process.execPath, ['bin/coffre.js', 'upload', a, '--url', `${p.url}/files/`, '--token', 'bad', '--state', state]), (err: any) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /cli-a\.txt/);
      return true;
    });
  });
});
