import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openAndMigrate } from '../../src/db/index.ts';
import { JobQueue } from '../../src/queue/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';

// One suite, run on both databases.
for (const database of TEST_DATABASES) {
  describe(`job queue on ${database.name}`, { skip: database.skip }, () => {
    const setup = async (leaseTtlMs = 60_000) => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      const queue = new JobQueue(cdb, { leaseTtlMs, pollIntervalMs: 50 });
      await queue.start();
      return {
        queue,
        close: async () => {
          await queue.stop();
          await cdb.close();
          await cleanup();
        },
      };
    };

    test('enqueue is idempotent per key and jobs are leased oldest first, once', async () => {
      const { queue, close } = await setup();
      try {
        await queue.enqueue([
          { queue: 'q', key: 'op1:STEP_A:0', operationId: 'op1', payload: { n: 0 } },
          { queue: 'q', key: 'op1:STEP_A:1', operationId: 'op1', payload: { n: 1 } },
        ]);
        await queue.enqueue([{ queue: 'q', key: 'op1:STEP_A:0', payload: { n: 99 } }]);
        const a = await queue.lease<{ n: number }>('q', 'w1');
        const b = await queue.lease<{ n: number }>('q', 'w2');
        assert.deepEqual([a?.payload.n, b?.payload.n], [0, 1]);
        assert.equal(await queue.lease('q', 'w3'), undefined, 'nothing left');
        assert.equal(await queue.lease('other', 'w3'), undefined, 'queues are separate');
        assert.equal(await queue.pending('op1:STEP_A:'), 2);
        assert.equal(await queue.complete(a!, { status: 'OK' }), true);
        assert.equal(await queue.complete(b!, { status: 'KO' }), true);
        assert.equal(await queue.pending('op1:STEP_A:'), 0);
        const rows = await queue.jobs('op1:STEP_A:');
        assert.deepEqual(rows.map((r) => r.result), [{ status: 'OK' }, { status: 'KO' }]);
        assert.equal((await queue.jobs('op1:STEP')).length, 2, 'prefix match');
        assert.equal((await queue.jobs('op1:STEP_B')).length, 0);
      } finally {
        await close();
      }
    });

    test("a dead worker's job is leased again once its lease expires; the old holder cannot complete it", async () => {
      // A lease long enough that a loaded machine still asks again within it (it was 50 ms: flaky).
      const { queue, close } = await setup(1000);
      try {
        await queue.enqueue([{ queue: 'q', key: 'k1', payload: {} }]);
        const dead = await queue.lease('q', 'dead-worker');
        assert.ok(dead);
        assert.equal(await queue.lease('q', 'w2'), undefined, 'held while the lease runs');
        await new Promise((r) => setTimeout(r, 1100));
        const again = await queue.lease('q', 'w2');
        assert.equal(again?.key, 'k1');
        assert.equal(again?.attempts, 2);
        assert.equal(await queue.renew(dead!), false, 'the dead holder lost it');
        assert.equal(await queue.complete(dead!, { late: true }), false);
        assert.equal(await queue.complete(again!, { ok: true }), true);
        assert.deepEqual((await queue.jobs('k1'))[0].result, { ok: true });
      } finally {
        await close();
      }
    });

    test('renewal keeps a lease alive past its time to live', async () => {
      const { queue, close } = await setup(100);
      try {
        await queue.enqueue([{ queue: 'q', key: 'k1', payload: {} }]);
        const job = await queue.lease('q', 'w1');
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setTimeout(r, 40));
          assert.equal(await queue.renew(job!), true);
        }
        assert.equal(await queue.lease('q', 'w2'), undefined);
        await queue.release(job!);
        assert.equal((await queue.lease('q', 'w2'))?.attempts, 2, 'a released job is ready at once');
      } finally {
        await close();
      }
    });

    test('concurrent workers never lease the same job twice', async () => {
      const { queue, close } = await setup();
      try {
        const n = 60;
        await queue.enqueue(Array.from({ length: n }, (_, i) => ({ queue: 'q', key: `k${String(i).padStart(3, '0')}`, payload: { i } })));
        const seen: number[] = [];
        await Promise.all(
          Array.from({ length: 6 }, async (_, w) => {
            for (;;) {
              const job = await queue.lease<{ i: number }>('q', `w${w}`);
              if (!job) return;
              seen.push(job.payload.i);
              await queue.complete(job, {});
            }
          }),
        );
        assert.equal(seen.length, n);
        assert.equal(new Set(seen).size, n);
      } finally {
        await close();
      }
    });

    test('wait() wakes up on enqueue', async () => {
      const { queue, close } = await setup();
      try {
        const waited = queue.wait(60_000);
        setTimeout(() => void queue.enqueue([{ queue: 'q', key: 'w', payload: {} }]), 10);
        await waited;
        assert.ok(await queue.lease('q', 'w1'));
      } finally {
        await close();
      }
    });
  });
}
