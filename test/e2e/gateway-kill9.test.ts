import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { loadOrCreateInstanceKey, signInstanceToken } from '../../src/auth/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const MiB = 2 ** 20;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** Runs `node bin/coffre.js serve` as a real child process; resolves once it listens. */
async function serve(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/coffre.js', 'serve', '--data-dir', dataDir, '--port', String(port)], {
    env: { ...process.env, COFFRE_LOG_LEVEL: 'warn', COFFRE_GATEWAY_CHECKPOINT_BYTES: String(MiB) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('Coffre is running at')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`coffre serve exited with ${code}: ${err}`)));
  });
  return child;
}

const killHard = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
};

describe('kill -9 of `coffre serve` mid-PATCH', () => {
  const dir = tempDir();
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) await killHard(c);
    dir.cleanup();
  });

  test('the upload resumes from HEAD after a restart and ends with the right bytes', async () => {
    const port = await freePort();
    children.push(await serve(dir.path, port));
    const config = parseConfig({ dataDir: dir.path });
    const token = await signInstanceToken(loadOrCreateInstanceKey(dir.path), config.auth, { space: 'alice', ttlSeconds: 3600 });
    const headers = { Authorization: `Bearer ${token}` };
    const body = randomBytes(48 * MiB);
    const expected = createHash('sha256').update(body).digest('hex');

    // One PATCH for the whole body; the server is killed once a third of it went out.
    const uploadUrl = await new Promise<string>((resolve) => {
      let killed = false;
      const u: tus.Upload = new tus.Upload(body, {
        endpoint: `http://127.0.0.1:${port}/files/`,
        headers,
        retryDelays: [],
        onProgress: (sent) => {
          if (!killed && sent >= 16 * MiB) {
            killed = true;
            void killHard(children[0]);
          }
        },
        onError: () => resolve(u.url!),
        onSuccess: () => resolve(u.url!),
      });
      u.start();
    });
    assert.ok(uploadUrl, 'the upload was created before the kill');

    children.push(await serve(dir.path, port));
    const head = await fetch(uploadUrl, { method: 'HEAD', headers: { ...headers, 'Tus-Resumable': '1.0.0' } });
    assert.equal(head.status, 200);
    const offset = Number(head.headers.get('upload-offset'));
    assert.ok(offset > 0 && offset < body.length, `resumes from the middle (offset ${offset})`);

    let resumedAt = -1;
    await new Promise<void>((resolve, reject) => {
      const u = new tus.Upload(body, {
        uploadUrl,
        headers,
        retryDelays: [],
        onBeforeRequest: (req) => {
          if (req.getMethod() === 'PATCH' && resumedAt < 0) resumedAt = Number(req.getHeader('Upload-Offset'));
        },
        onError: reject,
        onSuccess: () => resolve(),
      });
      u.start();
    });
    assert.equal(resumedAt, offset);
    const id = uploadUrl.split('/').pop()!;
    const stored = readFileSync(join(dir.path, 'staging', 'public', `${id}.bin`));
    assert.equal(createHash('sha256').update(stored).digest('hex'), expected);
    const info = JSON.parse(readFileSync(join(dir.path, 'staging', 'public', `${id}.info`), 'utf8'));
    assert.equal(info.digest.value, expected, 'the digest computed across the restart equals the source');
    assert.equal(info.offset, body.length);
  });
});
