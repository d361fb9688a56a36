import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openAndMigrate, tryAcquireLock, releaseLock } from '../../src/db/index.ts';
import { Bus, publish } from '../../src/bus/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';

for (const database of TEST_DATABASES) {
  describe(`database ${database.name}`, { skip: database.skip }, () => {
    test('migrations run twice without harm', async () => {
      const { config, cleanup } = await testConfig(database.name);
      try {
        const a = await openAndMigrate(config);
        await a.close();
        const b = await openAndMigrate(config);
        await b.close();
      } finally {
        await cleanup();
      }
    });

    test('a lease is exclusive until released or expired', async () => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      try {
        assert.equal(await tryAcquireLock(cdb.db, 'upload:1', 'node-a', 60_000), true);
        assert.equal(await tryAcquireLock(cdb.db, 'upload:1', 'node-b', 60_000), false);
        assert.equal(await tryAcquireLock(cdb.db, 'upload:1', 'node-a', 60_000), true, 'the holder renews');
        await releaseLock(cdb.db, 'upload:1', 'node-a');
        assert.equal(await tryAcquireLock(cdb.db, 'upload:1', 'node-b', 1), true);
        await new Promise((r) => setTimeout(r, 5));
        assert.equal(await tryAcquireLock(cdb.db, 'upload:1', 'node-c', 60_000), true, 'an expired lease is taken over');
      } finally {
        await cdb.close();
        await cleanup();
      }
    });

    test('the bus delivers committed messages in order, once, and never rolled-back ones', async () => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      const bus = new Bus(cdb, { pollIntervalMs: 50 });
      const seen: number[] = [];
      try {
        await cdb.db.transaction().execute(async (trx) => {
          await publish(trx, 'test.event', { n: 1 });
          await publish(trx, 'other.event', { n: -1 });
          await publish(trx, 'test.event', { n: 2 });
        });
        await assert.rejects(
          cdb.db.transaction().execute(async (trx) => {
            await publish(trx, 'test.event', { n: 99 });
            throw new Error('rolled back');
          }),
        );
        bus.subscribe({ name: 'collector', topics: ['test.event'], handler: async (m) => void seen.push((m.payload as { n: number }).n) });
        await bus.start();
        await bus.publishNow('test.event', { n: 3 });
        for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen, [1, 2, 3]);
        await bus.stop();
        // A new bus with the same subscriber name resumes after its cursor: nothing twice.
        const again: number[] = [];
        const bus2 = new Bus(cdb, { pollIntervalMs: 50 });
        bus2.subscribe({ name: 'collector', topics: ['test.event'], handler: async (m) => void again.push((m.payload as { n: number }).n) });
        await bus2.start();
        await bus2.publishNow('test.event', { n: 4 });
        for (let i = 0; i < 100 && again.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
        await bus2.stop();
        assert.deepEqual(again, [4]);
      } finally {
        await bus.stop();
        await cdb.close();
        await cleanup();
      }
    });
  });
}
