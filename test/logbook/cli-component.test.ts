import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SqlLogbook } from '../../src/logbook/index.ts';
import { startTestPlatform } from '../helpers/platform.ts';
import { testConfig } from '../helpers/db.ts';
import { fixture, sampleIngest } from './fixture.ts';

const run = promisify(execFile);
const coffre = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/coffre.js', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err: any) {
    return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string };
  }
};

describe('logbook commands', () => {
  test('operations list/show, lifecycle, seal, verify and rebuild through the real CLI', async () => {
    const f = await fixture('sqlite');
    const dir = f.config.dataDir;
    try {
      const op = await sampleIngest(f.logbook);
      await f.logbook.close();

      let r = await coffre('operations', 'list', '--data-dir', dir, '--json', '--status', 'OK', '--type', 'INGEST');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).map((o: any) => o.id), [op]);
      r = await coffre('operations', 'list', '--data-dir', dir, '--since', 'yesterday-ish');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^coffre: --since takes a date/);

      r = await coffre('operations', 'show', op, '--data-dir', dir, '--json');
      const shown = JSON.parse(r.stdout);
      assert.equal(shown.id, op);
      assert.equal(shown.type, 'INGEST');
      assert.equal(shown.status, 'OK');
      assert.ok(Array.isArray(shown.events));
      assert.ok(shown.events.some((e: any) => e.events.length === 2), 'actions nest under their step');
      r = await coffre('operations', 'show', op, '--data-dir', dir);
      assert.match(r.stdout, /STP_INGEST_CONTROL_SIP {2}STARTED/);
      assert.match(r.stdout, /\n {4}\S+ {2}CHECK_DIGEST {2}OK/);
      r = await coffre('operations', 'show', 'missing-op', '--data-dir', dir);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'coffre: no operation missing-op\n');

      r = await coffre('lifecycle', `og-${op}-0`, '--data-dir', dir, '--json');
      const lfc = JSON.parse(r.stdout);
      assert.equal(lfc.kind, 'objectgroup');
      assert.deepEqual(lfc.events.map((e: any) => e.outDetail), ['LFC.CHECK_DIGEST..OK', 'LFC.CHECK_DIGEST.CALC_CHECK.OK']);

      r = await coffre('logbook', 'seal', '--data-dir', dir, '--json');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).n, 1);
      r = await coffre('logbook', 'seal', '--data-dir', dir);
      assert.match(r.stdout, /^seal 2: \d+ events/, 'the first seal operation itself is sealed next');
      r = await coffre('logbook', 'verify', '--data-dir', dir, '--from', '2');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /1 seals, 1 proofs checked against the offers\njournals intact/);
      r = await coffre('logbook', 'verify', '--data-dir', dir, '--from', '9');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no seal 9 in the journal/);

      // Rebuild into an empty database next to the same offers, through the CLI.
      const env = { ...process.env, COFFRE_DATABASE_URL: `sqlite:${dir}/rebuilt.db` };
      const rebuilt = await run(process.execPath, ['bin/coffre.js', 'logbook', 'rebuild', '--data-dir', dir], { env });
      assert.match(rebuilt.stdout, /rebuilt 3 operations .* and 2 seals from the offers/);
      const verified = await run(process.execPath, ['bin/coffre.js', 'logbook', 'verify', '--data-dir', dir], { env });
      assert.match(verified.stdout, /journals intact/);
    } finally {
      await f.close();
    }
  });
});

describe('logbook component', () => {
  test('publishes the logbook in ctx.services and seals on its interval', async () => {
    const p = await startTestPlatform('sqlite', { logbook: { sealInterval: '300ms', language: 'en' } });
    try {
      const logbook = p.ctx.services.get('logbook') as SqlLogbook;
      assert.ok(logbook);
      const op = await logbook.startOperation({ type: 'INGEST', evType: 'PROCESS_SIP_UNITARY' });
      const [e] = await logbook.appendOperation(op, [{ evType: 'STORAGE_AVAILABILITY_CHECK', outcome: 'KO', evDetData: { strategyId: 'default', detail: 'offer-2 is full' } }]);
      assert.equal(e.outMessg, 'Failure of "Check of the availability and capacity of the offers of strategy default" Detail: offer-2 is full');
      await logbook.endOperation(op, 'KO', { evType: 'PROCESS_SIP_UNITARY' });
      // Wait (no time limit asserted) for the scheduled seal to cover the operation.
      for (;;) {
        const seal = await p.ctx.cdb.db.selectFrom('logbook_seal').selectAll().executeTakeFirst();
        if (seal) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const ops = await p.ctx.cdb.db.selectFrom('logbook_operation').select('type').where('type', '=', 'TRACEABILITY').execute();
      assert.ok(ops.length >= 1);
    } finally {
      await p.close();
    }
  });

  test('a configuration with an unknown language is refused with its key named', async () => {
    await assert.rejects(testConfig('sqlite', { logbook: { language: 'de' } } as any), /logbook\.language|language/);
  });
});
