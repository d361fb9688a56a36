import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAndMigrate, type CoffreDb } from '../../src/db/index.ts';
import { JobQueue } from '../../src/queue/index.ts';
import { PluginRegistry } from '../../src/plugins/index.ts';
import { Workspaces } from '../../src/workspace/index.ts';
import { WorkerPool, Worker, WORKFLOW_QUEUE } from '../../src/worker/worker.ts';
import { Coordinator, createOperation } from '../../src/ingest/workflow/coordinator.ts';
import { parseWorkflow, WorkflowRegistry } from '../../src/ingest/workflow/definition.ts';
import { createLogger } from '../../src/log/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';
import { MemoryLogbook } from './memory-logbook.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

const workflow = parseWorkflow(
  {
    id: 'TEST_WORKFLOW',
    type: 'INGEST',
    steps: [
      { name: 'STP_ONCE', behavior: 'BLOCKING', distribution: { kind: 'REF' }, actions: [{ name: 'COUNT' }] },
      { name: 'STP_LIST', behavior: 'BLOCKING', distribution: { kind: 'LIST', items: 'objectgroup', batchSize: 3, concurrency: 3 }, actions: [{ name: 'COUNT' }] },
      { name: 'STP_AFTER', behavior: 'BLOCKING', distribution: { kind: 'REF' }, actions: [{ name: 'COUNT' }] },
      { name: 'STP_FINALLY', behavior: 'FINALLY', distribution: { kind: 'REF' }, actions: [{ name: 'FINAL' }] },
    ],
  },
  'test',
);

async function setup(database: 'sqlite' | 'postgres', leaseTtlMs = 10_000) {
  const { config, cleanup } = await testConfig(database);
  const cdb = await openAndMigrate(config);
  const queue = new JobQueue(cdb, { leaseTtlMs, pollIntervalMs: 50 });
  await queue.start();
  const logbook = new MemoryLogbook();
  const plugins = await PluginRegistry.load({ pluginsFile: join(FIXTURES, 'plugins.json'), builtins: false });
  const workflows = new WorkflowRegistry([workflow]);
  const workspaces = new Workspaces({ root: join(config.dataDir, 'workspace') });
  const log = createLogger('silent');
  const workerDeps = { cdb, queue, logbook, plugins, workflows, workspaces, log, itemConcurrency: 2, maxAttempts: 3 };
  const coordinatorDeps = { cdb, queue, logbook, workflows, log, leaseTtlMs, pollIntervalMs: 50 };
  return {
    cdb, queue, logbook, workspaces, workerDeps, coordinatorDeps,
    close: async () => {
      await queue.stop();
      await cdb.close();
      await cleanup();
    },
  };
}

async function addItems(cdb: CoffreDb, operationId: string, data: Array<Record<string, unknown>>) {
  await cdb.db
    .insertInto('ingest_item')
    .values(data.map((d, seq) => ({ operation_id: operationId, kind: 'objectgroup', seq, item_id: `${operationId}-g${seq}`, data: JSON.stringify(d) })))
    .execute();
}

async function waitDone(cdb: CoffreDb, id: string) {
  for (let i = 0; i < 400; i++) {
    const op = await cdb.db.selectFrom('ingest_operation').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    if (op.state === 'DONE') return op;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('operation did not finish');
}

for (const database of TEST_DATABASES) {
  describe(`workflow engine on ${database.name}`, { skip: database.skip }, () => {
    test('runs every step, journals STARTED then the status, aggregates counts and writes LFC events (seed 004)', async () => {
      const s = await setup(database.name);
      const pool = new WorkerPool(s.workerDeps, 2);
      const coordinator = new Coordinator(s.coordinatorDeps);
      try {
        const { id } = await createOperation(s.cdb.db, { workflowId: 'TEST_WORKFLOW', params: {} });
        await addItems(s.cdb, id, [{}, {}, { warn: true }, {}, {}, {}, {}]);
        pool.start();
        coordinator.start();
        const op = await waitDone(s.cdb, id);
        assert.equal(op.outcome, 'WARNING');
        assert.deepEqual(s.logbook.trail(id), [
          'TEST_WORKFLOW:STARTED',
          'STP_ONCE:STARTED', 'COUNT:STARTED', 'COUNT:OK', 'STP_ONCE:OK',
          'STP_LIST:STARTED', 'COUNT:STARTED', 'COUNT:WARNING', 'STP_LIST:WARNING',
          'STP_AFTER:STARTED', 'COUNT:STARTED', 'COUNT:OK', 'STP_AFTER:OK',
          'STP_FINALLY:STARTED', 'FINAL:STARTED', 'FINAL:OK', 'STP_FINALLY:OK',
          'TEST_WORKFLOW:WARNING',
        ]);
        const listEnd = s.logbook.operations.get(id)!.find((e) => e.evType === 'COUNT' && e.outcome === 'WARNING')!;
        assert.deepEqual((listEnd.evDetData as any).counts, { OK: 6, WARNING: 1 });
        const steps = JSON.parse(op.steps);
        assert.equal(steps[1].batches, 3, '7 items in batches of 3');
        // Seed 004: LFC.<PLUGIN> with the literal `..` slot, and LFC.<PLUGIN>.<SUBTASK>, messages from the plugin's properties.
        const lfc = s.logbook.lifecycles.filter((l) => l.id === `${id}-g0`).map((l) => l.event);
        assert.deepEqual(lfc.map((e) => [e.evType, e.outcome, e.outDetail]), [
          ['LFC.COUNT', 'OK', 'LFC.COUNT..OK'],
          ['LFC.COUNT.TALLY', 'OK', 'LFC.COUNT.TALLY.OK'],
        ]);
        assert.equal(lfc[0].outMessg, 'Comptage réussi');
        assert.equal(lfc[1].outMessg, `Item ${id}-g0 compté`);
        assert.equal(lfc[1].evParentId, lfc[0].evId);
        assert.ok(s.logbook.lifecycles.every((l) => l.state === 'committed'));
        assert.equal(JSON.parse(readFileSync(join(s.workspaces.root, id, 'output', 'final.json'), 'utf8')).rejected, false);
      } finally {
        await coordinator.stop();
        await pool.stop();
        await s.close();
      }
    });

    test('a blocking step ending KO stops the workflow and runs the FINALLY steps', async () => {
      const s = await setup(database.name);
      const pool = new WorkerPool(s.workerDeps, 2);
      const coordinator = new Coordinator(s.coordinatorDeps);
      try {
        const { id } = await createOperation(s.cdb.db, { workflowId: 'TEST_WORKFLOW', params: {} });
        await addItems(s.cdb, id, [{}, { fail: true }, {}]);
        pool.start();
        coordinator.start();
        const op = await waitDone(s.cdb, id);
        assert.equal(op.outcome, 'KO');
        assert.equal(op.rejected, 1);
        const trail = s.logbook.trail(id);
        assert.ok(!trail.includes('STP_AFTER:STARTED'), 'the next blocking step does not run');
        assert.ok(trail.includes('STP_FINALLY:OK'));
        assert.equal(trail.at(-1), 'TEST_WORKFLOW:KO');
        assert.ok(s.logbook.lifecycles.filter((l) => l.step === 'STP_LIST').every((l) => l.state === 'undone'));
        assert.equal(JSON.parse(readFileSync(join(s.workspaces.root, id, 'output', 'final.json'), 'utf8')).rejected, true);
        const steps = JSON.parse(op.steps);
        assert.deepEqual(steps[1].failures.map((f: any) => f.itemId), [`${id}-g1`]);
        assert.equal(steps[2].status, 'SKIPPED');
      } finally {
        await coordinator.stop();
        await pool.stop();
        await s.close();
      }
    });

    test('a coordinator that dies mid-step is replaced: the operation resumes from its persisted step, nothing journaled twice', async () => {
      const s = await setup(database.name, 300);
      const first = new Coordinator(s.coordinatorDeps);
      const pool = new WorkerPool(s.workerDeps, 2);
      const second = new Coordinator(s.coordinatorDeps);
      try {
        const { id } = await createOperation(s.cdb.db, { workflowId: 'TEST_WORKFLOW', params: {} });
        await addItems(s.cdb, id, [{}, {}, {}, {}]);
        first.start();
        // Without workers the first step's batch waits; stop the coordinator as a crash would.
        for (let i = 0; i < 200 && (await s.queue.jobs(`${id}:STP_ONCE:`)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        await first.stop();
        // A dead worker leased the batch and vanished: the lease runs out, another worker takes it.
        const dead = await s.queue.lease(WORKFLOW_QUEUE, 'dead-worker');
        assert.ok(dead);
        pool.start();
        second.start();
        const op = await waitDone(s.cdb, id);
        assert.equal(op.outcome, 'OK');
        const trail = s.logbook.trail(id);
        assert.equal(trail.filter((t) => t === 'STP_ONCE:STARTED').length, 1);
        assert.equal(trail.filter((t) => t === 'STP_LIST:OK').length, 1);
        assert.equal(trail.at(-1), 'TEST_WORKFLOW:OK');
        const job = (await s.queue.jobs(`${id}:STP_ONCE:`))[0];
        assert.equal(job.attempts, 2, 'leased again after the dead worker');
      } finally {
        await first.stop();
        await second.stop();
        await pool.stop();
        await s.close();
      }
    });

    test('a poison batch is abandoned FATAL after maxAttempts', async () => {
      const s = await setup(database.name);
      try {
        const { id } = await createOperation(s.cdb.db, { workflowId: 'TEST_WORKFLOW', params: {} });
        await s.queue.enqueue([{ queue: WORKFLOW_QUEUE, key: `${id}:STP_ONCE:0`, payload: { operationId: id, workflowId: 'TEST_WORKFLOW', stepIndex: 0, step: 'STP_ONCE', batch: 0, from: 0, to: 0 } }]);
        const worker = new Worker(s.workerDeps);
        for (let i = 0; i < 3; i++) {
          const j = await s.queue.lease(WORKFLOW_QUEUE, `crashing-${i}`);
          await s.queue.release(j!);
        }
        const job = await s.queue.lease<any>(WORKFLOW_QUEUE, worker.id);
        await worker.runLeased(job!);
        const [row] = await s.queue.jobs(`${id}:STP_ONCE:`);
        assert.equal((row.result as { status: string }).status, "FATAL");
      } finally {
        await s.close();
      }
    });
  });
}

describe('plugin loading (seed 004)', () => {
  const tmp = fileURLToPath(new URL('./fixtures/', import.meta.url));
  const write = (name: string, json: unknown) => {
    const f = join(tmp, `.tmp-${name}.json`);
    writeFileSync(f, JSON.stringify(json));
    return f;
  };

  test('loads the plugins file; a new instance per call; a plugin named like a built-in replaces it', async () => {
    const reg = await PluginRegistry.load({ pluginsFile: join(FIXTURES, 'plugins.json'), builtins: false });
    assert.deepEqual(reg.names(), ['COUNT', 'FINAL']);
    const a = reg.create('COUNT').plugin;
    const b = reg.create('COUNT').plugin;
    assert.notEqual(a, b);
    assert.equal(reg.get('COUNT')!.catalogue.get('LFC.COUNT.OK'), 'Comptage réussi');
  });

  for (const [what, json, expected] of [
    ['a missing module', { BROKEN: { module: './nowhere.mjs' } }, /plugin BROKEN: module \.\/nowhere\.mjs cannot be loaded/],
    ['a module that is not a plugin', { BROKEN: { module: './not-a-plugin.mjs' } }, /plugin BROKEN: module \.\/not-a-plugin\.mjs is not a plugin/],
    ['unreadable properties', { BROKEN: { module: './final-plugin.mjs', propertiesFile: './missing.properties' } }, /plugin BROKEN: properties file .*missing\.properties cannot be read/],
    ['a bad name', { 'bad-name': { module: './final-plugin.mjs' } }, /plugin bad-name: a plugin name is an action name/],
  ] as const) {
    test(`refuses to start on ${what}, naming the plugin and why`, async () => {
      const f = write(what.replace(/\W/g, '_'), { COUNT: { module: './count-plugin.mjs' }, ...json });
      try {
        await assert.rejects(PluginRegistry.load({ pluginsFile: f, builtins: false }), expected);
      } finally {
        (await import('node:fs')).rmSync(f);
      }
    });
  }
});
