import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { PG_SKIP_REASON, PG_URL } from '../helpers/db.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleSeda, writePackage } from '../fixtures/packages.ts';
import { submit, waitForOperation } from '../ingest/helpers.ts';

function run(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<{ code: number; stderr: string }> } {
  const child = spawn(process.execPath, ['bin/coffre.js', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? 1, stderr }))) };
}

describe('coffre worker', () => {
  test('refuses SQLite with a clear message', async () => {
    const dir = tempDir();
    try {
      const { done } = run(['worker', '--data-dir', dir.path], { COFFRE_DATABASE_URL: '' });
      const r = await done;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /coffre worker needs the shared PostgreSQL database/);
    } finally {
      dir.cleanup();
    }
  });

  test('refuses to start when a plugin cannot be loaded, naming it', { skip: PG_URL ? undefined : PG_SKIP_REASON }, async () => {
    const dir = tempDir();
    try {
      const plugins = join(dir.path, 'plugins.json');
      (await import('node:fs')).writeFileSync(plugins, JSON.stringify({ CHECK_DIGEST: { module: './missing-plugin.mjs' } }));
      const { done } = run(['worker', '--data-dir', dir.path], { COFFRE_DATABASE_URL: PG_URL!, COFFRE_INGEST_PLUGINS_FILE: plugins });
      const r = await done;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /plugin CHECK_DIGEST: module \.\/missing-plugin\.mjs cannot be loaded/);
    } finally {
      dir.cleanup();
    }
  });

  describe('a worker process on the shared PostgreSQL database', { skip: PG_URL ? undefined : PG_SKIP_REASON }, () => {
    let platform: TestPlatform;
    let worker: ReturnType<typeof run> | undefined;
    const dir = tempDir();
    before(async () => {
      // The platform runs no worker of its own: only the separate process can run the batches.
      platform = await startTestPlatform('postgres', { ingest: { workers: 0 } });
    });
    after(async () => {
      if (worker && worker.child.exitCode === null) {
        worker.child.kill('SIGTERM');
        await worker.done;
      }
      await platform?.close();
      dir.cleanup();
    });

    test('runs the batches of an operation driven by `coffre serve`', async () => {
      worker = run(['worker', '--data-dir', platform.ctx.config.dataDir, '--concurrency', '2', '--no-coordinate'], {
        COFFRE_DATABASE_URL: platform.ctx.config.database.url!,
        COFFRE_LOG_LEVEL: 'warn',
      });
      const pkg = await writePackage(join(dir.path, 'sip.zip'), sampleSeda('2.1'));
      const id = await submit(platform, pkg);
      const op = await waitForOperation(platform.ctx.cdb, id);
      assert.equal(op.outcome, 'OK', op.steps);
      const owners = await platform.ctx.cdb.db.selectFrom('queue_job').select('owner').where('operation_id', '=', id).execute();
      assert.ok(owners.length >= 8);
      assert.ok(owners.every((o) => o.owner?.includes(`:${worker!.child.pid}:`)), 'every batch ran in the worker process');
    });
  });
});
