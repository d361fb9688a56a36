import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { writeArchive } from '../fixtures/archives.ts';
import { sampleSeda, sampleBag, writePackage, edit, SAMPLE_PDF, type PackageFiles } from '../fixtures/packages.ts';
import { submit, waitForOperation, journalTrail } from '../ingest/helpers.ts';

/** Every refusal of the issue, each on a package made for it, through the whole workflow. */
describe('ingest refusals (KO, with a message that says where)', () => {
  let platform: TestPlatform;
  const dir = tempDir();
  let n = 0;
  before(async () => {
    platform = await startTestPlatform('sqlite');
  });
  after(async () => {
    await platform?.close();
    dir.cleanup();
  });

  async function ingest(pkg: PackageFiles | string) {
    const path = typeof pkg === 'string' ? pkg : await writePackage(join(dir.path, `p${n++}.zip`), pkg);
    const id = await submit(platform, path);
    const op = await waitForOperation(platform.ctx.cdb, id);
    return { id, op, steps: JSON.parse(op.steps) as any[], trail: await journalTrail(platform.ctx.cdb, id) };
  }

  async function refused(pkg: PackageFiles | string, step: string, pattern: RegExp): Promise<void> {
    const r = await ingest(pkg);
    assert.equal(r.op.outcome, 'KO', `${r.trail.join(', ')}`);
    const s = r.steps.find((x) => x.name === step);
    assert.equal(s?.status, 'KO', `step ${step} ended ${s?.status}: ${JSON.stringify(r.steps.map((x) => [x.name, x.status]))}`);
    const report = JSON.parse(r.op.report!);
    assert.equal(report.status, 'KO');
    const messages = report.failures.map((f: any) => f.message).join(' | ');
    assert.match(messages, pattern);
    // Nothing after the refusal but the FINALLY step; no object stored, nothing indexed.
    assert.ok(!r.trail.includes('STP_OBJ_STORING:STARTED') || step === 'STP_OBJ_STORING');
    assert.ok(r.trail.includes('STP_INGEST_FINALISATION:OK'));
    assert.equal(r.trail.at(-1), 'PROCESS_SIP_UNITARY:KO');
    const units = await platform.ctx.cdb.db.selectFrom('archive_unit').select('id').where('operation_id', '=', r.id).execute();
    assert.equal(units.length, 0);
  }

  const base = sampleSeda('2.1');
  const m = (change: (t: string) => string) => edit.manifest(base, change);
  const MANIFEST = 'STP_INGEST_CONTROL_SIP';

  test('missing manifest', () => refused({ files: [{ name: 'bordereau.xml', data: Buffer.from('<a/>') }] }, MANIFEST, /manifest\.xml/));
  test('malformed manifest, with its line', () => refused(m((t) => t.replace('</Comment>', '</Commentaire>')), MANIFEST, /manifest\.xml:3/));
  test('an unsupported SEDA version', () => refused(m((t) => t.replace(':seda:v2.1', ':seda:v2.0')), MANIFEST, /v2\.0/));
  test('an element the version does not allow', () =>
    refused(m((t) => t.replace('<DataObjectVersion>BinaryMaster_1</DataObjectVersion>', '<DataObjectVersion>BinaryMaster_1</DataObjectVersion>\n        <DataObjectUse>Archive</DataObjectUse>')), MANIFEST, /DataObjectUse/));
  test('a declared file missing', () => refused(edit.withoutFile(base, 'Content/rapport.pdf'), MANIFEST, /Content\/rapport\.pdf/));
  test('a file not declared', () => refused(edit.withFile(base, 'Content/extra.bin', 'surprise'), MANIFEST, /Content\/extra\.bin/));
  test('a digest that does not match', () => refused(edit.replaceFile(base, 'Content/rapport.pdf', 'altered bytes'), MANIFEST, /BDO-1|rapport\.pdf/));
  test('an unknown digest algorithm name', () => refused(m((t) => t.replace('algorithm="SHA-512"', 'algorithm="SHA-999"')), MANIFEST, /SHA-999/));
  test('an unsafe name in a Uri', () => refused(m((t) => t.replace('<Uri>Content/rapport.pdf</Uri>', '<Uri>../outside.pdf</Uri>')), MANIFEST, /BDO-1/));
  test('a cycle in the unit tree', () =>
    refused(m((t) => t.replace('<DataObjectReferenceId>BDO-3</DataObjectReferenceId>\n          </DataObjectReference>\n        </ArchiveUnit>',
      '<DataObjectReferenceId>BDO-3</DataObjectReferenceId>\n          </DataObjectReference>\n        </ArchiveUnit>\n        <ArchiveUnit id="AU-6"><ArchiveUnitRefId>AU-1</ArchiveUnitRefId></ArchiveUnit>')), MANIFEST, /AU-1 → AU-4 → AU-1/));
  test('a reference to an undeclared unit', () => refused(m((t) => t.replace('<ArchiveUnitRefId>AU-4</ArchiveUnitRefId>', '<ArchiveUnitRefId>AU-404</ArchiveUnitRefId>')), MANIFEST, /AU-404/));
  test('a reference to an undeclared group', () => refused(m((t) => t.replace('<DataObjectGroupReferenceId>GOT-1</DataObjectGroupReferenceId>', '<DataObjectGroupReferenceId>GOT-404</DataObjectGroupReferenceId>')), MANIFEST, /GOT-404/));
  test('a reference to an undeclared object', () => refused(m((t) => t.replace('<DataObjectReferenceId>BDO-3</DataObjectReferenceId>', '<DataObjectReferenceId>BDO-404</DataObjectReferenceId>')), MANIFEST, /BDO-404/));
  test('a physical object declared as binary', () => refused(m((t) => t.replace('<DataObjectVersion>BinaryMaster_1</DataObjectVersion>', '<DataObjectVersion>PhysicalMaster_1</DataObjectVersion>')), MANIFEST, /BDO-1|Physical/));
  test('a binary object declared as physical', () => refused(m((t) => t.replace('<DataObjectVersion>PhysicalMaster_1</DataObjectVersion>', '<DataObjectVersion>BinaryMaster_2</DataObjectVersion>')), MANIFEST, /Binary|Physical/));
  test('a BagIt bag whose Payload-Oxum lies', () => {
    const bag = sampleBag({ tagAlgorithms: [] });
    const info = bag.files.find((f) => f.name === 'bag-info.txt')!;
    return refused(edit.replaceFile(bag, 'bag-info.txt', info.data.toString().replace(/Payload-Oxum: \d+/, 'Payload-Oxum: 1')), MANIFEST, /Oxum/i);
  });

  const SANITY = 'STP_SANITY_CHECK_SIP';
  test('an archive entry with a ".." name', async () => {
    const path = join(dir.path, 'dotdot.zip');
    await writeArchive(path, 'zip', [{ name: '../evil.txt', data: 'x' }]);
    await refused(path, SANITY, /\.\./);
  });
  test('a symbolic link in the archive', async () => {
    const path = join(dir.path, 'link.tar');
    await writeArchive(path, 'tar', [{ name: 'manifest.xml', data: base.manifest! }, { name: 'Content/rapport.pdf', type: 'symlink', linkname: '/etc/passwd' }]);
    await refused(path, SANITY, /link/i);
  });
  test('something that is no archive', async () => {
    const path = join(dir.path, 'not-an-archive.bin');
    await (await import('node:fs/promises')).writeFile(path, 'just text');
    await refused(path, SANITY, /.+/);
  });

  test('a wrong declared size is a WARNING and the real size is kept', async () => {
    const r = await ingest(m((t) => t.replace(`<Size>${SAMPLE_PDF.length}</Size>`, '<Size>999999</Size>')));
    assert.equal(r.op.outcome, 'WARNING', r.trail.join(', '));
    const pdf = await platform.ctx.cdb.db.selectFrom('archive_object').selectAll().where('operation_id', '=', r.id).where('path', '=', 'Content/rapport.pdf').executeTakeFirstOrThrow();
    assert.equal(pdf.size, SAMPLE_PDF.length);
  });
});
