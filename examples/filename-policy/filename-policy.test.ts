import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginRegistry } from '../../src/plugins/index.ts';
import { startTestPlatform, type TestPlatform } from '../../test/helpers/platform.ts';
import { tempDir } from '../../test/helpers/tmp.ts';
import { sampleSeda, writePackage, edit } from '../../test/fixtures/packages.ts';
import { submit, waitForOperation } from '../../test/ingest/helpers.ts';
import { showLifecycle } from '../../src/logbook/index.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

describe('example plugin CHECK_FILENAMES', () => {
  test('loads through a plugins file and returns an item status with its sub-task', async () => {
    const registry = await PluginRegistry.load({ pluginsFile: join(HERE, 'plugins.json') });
    assert.ok(registry.get('CHECK_FILENAMES'));
    const { plugin } = registry.create('CHECK_FILENAMES');
    const io: any = {
      parameters: { forbidden: ['.exe'] },
      item: { kind: 'objectgroup', id: 'g', seq: 0, data: { objects: [{ kind: 'binary', manifestId: 'BDO-1', path: 'Content/setup.EXE' }, { kind: 'binary', manifestId: 'BDO-2', path: 'a.pdf' }] } },
    };
    const r = await plugin.execute(io);
    assert.equal(r.globalStatus, 'KO');
    assert.deepEqual(r.itemsStatus, [{ EXTENSION: { globalStatus: 'KO', params: { count: 2 } } }]);
    assert.equal(r.params?.path, 'Content/setup.EXE');
    assert.equal(registry.get('CHECK_FILENAMES')!.catalogue.get('LFC.CHECK_FILENAMES.EXTENSION.KO'), 'Extension interdite pour {path}');
  });

  describe('in a whole ingest', () => {
    let platform: TestPlatform;
    const dir = tempDir();
    before(async () => {
      platform = await startTestPlatform('sqlite', { ingest: { pluginsFile: join(HERE, 'plugins.json'), workflowFile: join(HERE, 'workflow.json') } });
    });
    after(async () => {
      await platform?.close();
      dir.cleanup();
    });

    test('a package with an .exe is refused with the plugin\'s own messages; a clean one passes', async () => {
      const base = sampleSeda('2.1');
      const renamed = edit.manifest(
        { ...base, files: base.files.map((f) => (f.name === 'Content/rapport.pdf' ? { ...f, name: 'Content/setup.exe' } : f)) },
        (t) => t.replace('<Uri>Content/rapport.pdf</Uri>', '<Uri>Content/setup.exe</Uri>'),
      );
      const bad = await submit(platform, await writePackage(join(dir.path, 'bad.zip'), renamed));
      const op = await waitForOperation(platform.ctx.cdb, bad);
      assert.equal(op.outcome, 'KO');
      const steps = JSON.parse(op.steps);
      assert.equal(steps.find((s: any) => s.name === 'STP_OG_CHECK_AND_TRANSFORME').actions.CHECK_FILENAMES.status, 'KO');
      const groups = await platform.ctx.cdb.db.selectFrom('ingest_item').select('item_id').where('operation_id', '=', bad).where('kind', '=', 'objectgroup').execute();
      const events = (await Promise.all(groups.map((g) => showLifecycle(platform.ctx.cdb, g.item_id)))).flat().flatMap((l) => l.events);
      const sub = events.find((e) => e.outDetail === 'LFC.CHECK_FILENAMES.EXTENSION.KO');
      assert.equal(sub?.outMessg, 'Extension interdite pour Content/setup.exe');
      assert.ok(events.some((e) => e.outDetail === 'LFC.CHECK_FILENAMES..KO'));
      const journal = await platform.ctx.cdb.db.selectFrom('logbook_op_event').select(['out_messg']).where('operation_id', '=', bad).where('ev_type', '=', 'CHECK_FILENAMES').where('outcome', '=', 'KO').executeTakeFirstOrThrow();
      assert.match(journal.out_messg, /extension interdite \(.*Content\/setup\.exe \(\.exe\)\)/);

      const good = await submit(platform, await writePackage(join(dir.path, 'good.zip'), base));
      assert.equal((await waitForOperation(platform.ctx.cdb, good)).outcome, 'OK');
    });
  });
});
