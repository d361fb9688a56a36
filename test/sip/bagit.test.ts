import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Workspaces } from '../../src/workspace/index.ts';
import { readPackage, detectPackageKind, parseTagFields, SipError, type SipErrorCode, type SipPackage } from '../../src/sip/index.ts';
import { sampleBag, writePackage, edit, SAMPLE_PDF, type PackageFiles } from '../fixtures/packages.ts';
import type { ArchiveFormat } from '../fixtures/archives.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir('coffre-bag-');
after(() => tmp.cleanup());
let n = 0;

async function ingest(pkg: PackageFiles, format: ArchiveFormat = 'zip'): Promise<SipPackage> {
  const path = await writePackage(join(tmp.path, `b${n++}.${format}`), pkg, format);
  const ws = new Workspaces({ root: join(tmp.path, 'ws') }).open(`op${n++}`);
  const listing = await ws.unpack(path, { digests: ['sha256'] });
  assert.equal(detectPackageKind(listing), 'bagit');
  return readPackage(ws, listing);
}

async function refused(pkg: PackageFiles, code: SipErrorCode, format: ArchiveFormat = 'zip'): Promise<SipError> {
  const err = await ingest(pkg, format).then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof SipError, `expected a SipError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

for (const format of ['zip', 'tar', 'tar.gz'] as const) {
  for (const root of ['', 'mybag/']) {
    test(`valid bag as ${format}${root ? ' inside a top folder' : ''}: one unit, one group per payload file`, async () => {
      const sip = await ingest(sampleBag({ root }), format);
      assert.equal(sip.kind, 'bagit');
      assert.equal(sip.version, '1.0');
      assert.equal(sip.manifestPath, `${root}bagit.txt`);
      assert.equal(sip.units.length, 1);
      const unit = sip.units[0];
      assert.equal(unit.title, 'Rapport et photographie versés en 2024');
      assert.equal(unit.content['Source-Organization'], 'Archives de test');
      assert.deepEqual(unit.content.Keyword, ['rapport', 'photo']);
      assert.equal(sip.groups.length, 3);
      assert.deepEqual(unit.groupIds, sip.groups.map((g) => g.id));
      assert.equal(sip.objects.length, 3);
      const pdf = sip.objects.find((o) => o.filename === 'rapport.pdf')!;
      assert.equal(pdf.path, `${root}data/rapport.pdf`);
      assert.equal(pdf.size, SAMPLE_PDF.length);
      assert.deepEqual(pdf.declaredDigest, { algorithm: 'SHA-512', value: createHash('sha512').update(SAMPLE_PDF).digest('hex') });
      assert.deepEqual(pdf.computedDigest, pdf.declaredDigest);
      assert.equal(sip.objects.find((o) => o.filename === 'lisez moi.txt')!.metadata.path, 'notes/lisez moi.txt');
    });
  }
}

test('every manifest algorithm (md5, sha1, sha256, sha512)', async () => {
  for (const alg of ['md5', 'sha1', 'sha256', 'sha512']) {
    const sip = await ingest(sampleBag({ algorithms: [alg], tagAlgorithms: [alg] }), 'tar');
    assert.equal(sip.objects[0].declaredDigest!.value, sip.objects[0].computedDigest!.value);
  }
});

describe('refusals', () => {
  const bag = sampleBag();
  const replace = (name: string, change: (t: string) => string) => {
    const f = bag.files.find((x) => x.name === name)!;
    return edit.replaceFile(bag, name, change(f.data.toString()));
  };

  test('bagit.txt missing or wrong', async () => {
    const noDeclaration = edit.withoutFile(bag, 'bagit.txt');
    const path = await writePackage(join(tmp.path, `b${n++}.zip`), noDeclaration);
    const ws = new Workspaces({ root: join(tmp.path, 'ws') }).open(`op${n++}`);
    const err = await readPackage(ws, await ws.unpack(path)).catch((e: unknown) => e);
    assert.ok(err instanceof SipError && err.code === 'UNKNOWN_PACKAGE_KIND');
    await refused(replace('bagit.txt', () => 'Tag-File-Character-Encoding: UTF-8\n'), 'BAGIT_DECLARATION_INVALID');
    await refused(replace('bagit.txt', (t) => t.replace('UTF-8', 'ISO-8859-1')), 'BAGIT_DECLARATION_INVALID');
  });

  test('no payload manifest', async () => {
    await refused(edit.withoutFile(edit.withoutFile(bag, 'manifest-sha512.txt'), 'manifest-md5.txt'), 'BAGIT_MANIFEST_MISSING');
  });

  test('an unknown manifest algorithm', async () => {
    await refused(edit.withFile(bag, 'manifest-whirlpool.txt', ''), 'UNKNOWN_DIGEST_ALGORITHM');
  });

  test('a payload file missing or not listed', async () => {
    const missing = await refused(edit.withoutFile(bag, 'data/rapport.pdf'), 'DECLARED_FILE_MISSING');
    assert.match(missing.message, /data\/rapport\.pdf/);
    const extra = await refused(edit.withFile(bag, 'data/extra.txt', 'x'), 'UNDECLARED_FILE');
    assert.equal(extra.where?.file, 'data/extra.txt');
  });

  test('a payload digest that does not match', async () => {
    const err = await refused(edit.replaceFile(bag, 'data/rapport.pdf', 'altered'), 'DIGEST_MISMATCH');
    assert.equal(err.where?.file, 'data/rapport.pdf');
  });

  test('a tag file digest that does not match', async () => {
    const err = await refused(replace('bag-info.txt', (t) => t.replace('Jeanne', 'Jean')), 'DIGEST_MISMATCH');
    assert.equal(err.where?.file, 'bag-info.txt');
  });

  test('Payload-Oxum that does not match the payload', async () => {
    const oxum = sampleBag({ tagAlgorithms: [] });
    const f = oxum.files.find((x) => x.name === 'bag-info.txt')!;
    const err = await refused(edit.replaceFile(oxum, 'bag-info.txt', f.data.toString().replace(/Payload-Oxum: \d+/, 'Payload-Oxum: 1')), 'PAYLOAD_OXUM_MISMATCH');
    assert.match(err.message, /declares 1 bytes in 3 files/);
  });

  test('unsafe or malformed manifest lines', async () => {
    await refused(replace('manifest-md5.txt', (t) => `${t}0123abcd  data/../../etc/passwd\n`), 'UNSAFE_NAME');
    await refused(replace('manifest-md5.txt', (t) => `${t}0123abcd  /etc/passwd\n`), 'UNSAFE_NAME');
    await refused(replace('manifest-md5.txt', (t) => `${t}0123abcd  bag-info.txt\n`), 'BAGIT_MANIFEST_INVALID');
    const err = await refused(replace('manifest-md5.txt', (t) => `${t}not a line\n`), 'BAGIT_MANIFEST_INVALID');
    assert.equal(err.where?.line, 4);
  });

  test('fetch.txt is refused', async () => {
    await refused(edit.withFile(bag, 'fetch.txt', 'http://example.org/x 10 data/x\n'), 'BAGIT_FETCH_UNSUPPORTED');
  });
});

test('tag fields: continuation lines and repeated labels', () => {
  assert.deepEqual(parseTagFields('A: 1\nB: two\n  lines\nA: 3\r\n'), { A: ['1', '3'], B: 'two lines' });
});

test('every bad bag of the fixture catalogue is refused with its code (zip and tar)', async () => {
  const { badBags } = await import('../fixtures/packages.ts');
  for (const format of ['zip', 'tar'] as const) {
    for (const bad of badBags()) {
      const err = await ingest(bad.pkg, format).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof SipError, `${bad.title}: got ${String(err)}`);
      assert.equal(err.code, bad.code, `${bad.title}: ${err.message}`);
    }
  }
});
