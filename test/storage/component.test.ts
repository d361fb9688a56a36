import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openContext } from '../../src/platform/index.ts';
import { storageComponent } from '../../src/storage/component.ts';
import type { StorageEngine } from '../../src/storage/index.ts';
import { testConfig } from '../helpers/db.ts';
import { bufferSource, readAll } from './helpers.ts';

test('the storage component publishes the engine as ctx.services storage', async () => {
  const { config, cleanup } = await testConfig('sqlite');
  const ctx = await openContext(config);
  try {
    await storageComponent.start!(ctx);
    const engine = ctx.services.get('storage') as StorageEngine;
    assert.deepEqual(engine.strategyIds(), ['default']);
    const data = randomBytes(1000);
    assert.equal((await engine.write({ container: 'objects', id: 'via-ctx', source: bufferSource(data) })).status, 'OK');
    assert.ok((await readAll((await engine.read({ container: 'objects', id: 'via-ctx', verifyDigest: true })).body)).equals(data));
  } finally {
    await storageComponent.stop!();
    await ctx.cdb.close();
    await cleanup();
  }
});

test('start-up is refused, naming the module and the reason, when an external driver cannot be loaded', async () => {
  const { config, cleanup } = await testConfig('sqlite', {
    storage: {
      drivers: { tape: './no/such/tape-driver.mjs' },
      offers: [{ id: 't1', driver: 'tape' }],
      strategies: [{ id: 'default', offers: [{ id: 't1', rank: 1 }] }],
    },
  });
  const ctx = await openContext(config);
  try {
    await assert.rejects(storageComponent.start!(ctx), /driver "tape": cannot load module .*no\/such\/tape-driver\.mjs/);
  } finally {
    await ctx.cdb.close();
    await cleanup();
  }
});
