import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Workspaces } from '../../src/workspace/index.ts';
import { readPackage, SipError, verifyObjectDigest, type SipErrorCode, type SipPackage, type ReadPackageOptions } from '../../src/sip/index.ts';
import { SEDA_VERSIONS, sampleSeda, writePackage, edit, SAMPLE_PDF, SAMPLE_PNG, type PackageFiles } from '../fixtures/packages.ts';
import type { ArchiveFormat } from '../fixtures/archives.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir('coffre-sip-');
after(() => tmp.cleanup());
let n = 0;

async function ingest(pkg: PackageFiles, options: ReadPackageOptions & { format?: ArchiveFormat; digests?: Array<'sha256' | 'sha512'> } = {}): Promise<SipPackage> {
  const path = await writePackage(join(tmp.path, `p${n++}.${options.format ?? 'zip'}`), pkg, options.format ?? 'zip');
  const ws = new Workspaces({ root: join(tmp.path, 'ws') }).open(`op${n++}`);
  const listing = await ws.unpack(path, { digests: options.digests ?? ['sha512'] });
  return readPackage(ws, listing, options);
}

async function refused(pkg: PackageFiles, code: SipErrorCode, options: ReadPackageOptions = {}): Promise<SipError> {
  const err = await ingest(pkg, options).then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof SipError, `expected a SipError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

const sha = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');

for (const version of SEDA_VERSIONS) {
  for (const format of ['zip', 'tar'] as const) {
    test(`valid SEDA ${version} package (${format}): units tree, groups, binary and physical objects`, async () => {
      const sip = await ingest(sampleSeda(version), { format });
      assert.equal(sip.kind, 'seda');
      assert.equal(sip.version, version);
      assert.deepEqual(sip.warnings, []);
      assert.equal(sip.header.MessageIdentifier, 'MSG-2024-0001');
      assert.equal(sip.header.ArchivalAgreement, 'IC-000001');
      assert.deepEqual(sip.managementMetadata, { OriginatingAgencyIdentifier: 'FRAN_NP_000001' });

      const units = new Map(sip.units.map((u) => [u.id, u]));
      assert.deepEqual([...units.keys()].sort(), ['AU-1', 'AU-2', 'AU-4', 'AU-5'], 'AU-3 only points at AU-4');
      assert.deepEqual(units.get('AU-1')!.parentIds, []);
      assert.deepEqual(units.get('AU-2')!.parentIds, ['AU-1']);
      assert.deepEqual(units.get('AU-4')!.parentIds, ['AU-1'], 'ArchiveUnitRefId makes AU-4 a child of AU-1');
      assert.deepEqual(units.get('AU-5')!.parentIds, ['AU-4']);
      assert.equal(units.get('AU-1')!.title, 'Fonds de test');
      assert.deepEqual(units.get('AU-1')!.content.Title, ['Fonds de test', { '@lang': 'en', '#text': 'Test fonds' }]);
      assert.deepEqual(units.get('AU-1')!.management, { AccessRule: { Rule: 'ACC-00002', StartDate: '2024-01-01' } });
      assert.deepEqual(units.get('AU-2')!.groupIds, ['GOT-1']);
      assert.deepEqual(units.get('AU-4')!.groupIds, ['GOT-2']);

      const objects = new Map(sip.objects.map((o) => [o.id, o]));
      const pdf = objects.get('BDO-1')!;
      assert.equal(pdf.kind, 'binary');
      assert.equal(pdf.groupId, 'GOT-1');
      assert.equal(pdf.path, 'Content/rapport.pdf');
      assert.equal(pdf.size, SAMPLE_PDF.length);
      assert.deepEqual(pdf.declaredDigest, { algorithm: 'SHA-512', value: sha('sha512', SAMPLE_PDF) });
      assert.deepEqual(pdf.computedDigest, pdf.declaredDigest);
      assert.deepEqual(pdf.format, { formatId: 'fmt/276', mimeType: 'application/pdf', formatLitteral: 'Acrobat PDF 1.7 - Portable Document Format', encoding: undefined });
      assert.equal(pdf.filename, 'rapport.pdf');
      assert.equal(objects.get('BDO-2')!.computedDigest!.algorithm, 'SHA-256');
      const photo = objects.get('BDO-3')!;
      assert.equal(photo.path, 'Content/images/photo 001.png', 'a percent-encoded Uri names the file');
      assert.deepEqual(photo.computedDigest, { algorithm: 'MD5', value: sha('md5', SAMPLE_PNG) });
      const physical = objects.get('PDO-1')!;
      assert.equal(physical.kind, 'physical');
      assert.equal(physical.physicalId, 'BOITE-12');
      assert.equal(physical.path, undefined);

      const groups = new Map(sip.groups.map((g) => [g.id, g]));
      assert.deepEqual(groups.get('GOT-1')!.objectIds, ['BDO-1', 'BDO-2']);
      assert.deepEqual(groups.get('GOT-1')!.unitIds, ['AU-2']);
      assert.equal(groups.get(photo.groupId)!.implicit, version === '2.1');
      assert.deepEqual(groups.get(photo.groupId)!.unitIds, ['AU-5']);
      assert.equal(sip.totalSize, sip.objects.reduce((s, o) => s + (o.size ?? 0), 0));
    });
  }
}

describe('refusals', () => {
  const base = sampleSeda('2.1');
  const m = (change: (text: string) => string) => edit.manifest(base, change);

  test('missing manifest, and a package that is no known kind', async () => {
    await refused({ files: [{ name: 'bordereau.xml', data: Buffer.from('<a/>') }] }, 'MANIFEST_MISSING');
    await refused({ files: [{ name: 'a.txt', data: Buffer.from('a') }] }, 'UNKNOWN_PACKAGE_KIND');
    const nested = await refused({ files: [{ name: 'SIP/manifest.xml', data: Buffer.from(base.manifest!) }] }, 'MANIFEST_MISSING');
    assert.match(nested.message, /must be at the root of the package, not in "SIP\/"/);
  });

  test('malformed manifest, with its line', async () => {
    const err = await refused(m((t) => t.replace('</Comment>', '</Commentaire>')), 'MANIFEST_MALFORMED');
    assert.equal(err.where?.line, 3);
    assert.match(err.message, /^manifest\.xml:3/);
    await refused(m((t) => t.slice(0, 500)), 'MANIFEST_MALFORMED');
    await refused(m(() => ''), 'MANIFEST_MALFORMED');
    await refused(m((t) => t.replace(/ArchiveTransfer/g, 'ArchiveDeliveryRequest')), 'MANIFEST_MALFORMED');
  });

  test('a DOCTYPE (and so any entity, external or not) is refused before anything is expanded', async () => {
    const xxe = m((t) => t.replace('<ArchiveTransfer', '<!DOCTYPE ArchiveTransfer [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<ArchiveTransfer').replace('Paquet de test Coffre', '&x;'));
    await refused(xxe, 'DOCTYPE_REFUSED');
  });

  test('SEDA versions we do not support', async () => {
    const err = await refused(m((t) => t.replace(':seda:v2.1', ':seda:v2.0')), 'UNSUPPORTED_SEDA_VERSION');
    assert.match(err.message, /v2\.0/);
    await refused(m((t) => t.replace(':seda:v2.1', ':seda:v1.0')), 'UNSUPPORTED_SEDA_VERSION');
  });

  test('an element the version does not allow (DataObjectUse is SEDA 2.3 only)', async () => {
    const withUse = (version: '2.1' | '2.2' | '2.3') => edit.manifest(sampleSeda(version), (t) => t.replace('<DataObjectVersion>BinaryMaster_1</DataObjectVersion>', '<DataObjectVersion>BinaryMaster_1</DataObjectVersion>\n        <DataObjectUse>Archive</DataObjectUse>'));
    for (const version of ['2.1', '2.2'] as const) {
      const err = await refused(withUse(version), 'SCHEMA_INVALID');
      assert.match(err.message, /DataObjectUse/);
      assert.equal(typeof err.where?.line, 'number');
    }
    const sip = await ingest(withUse('2.3'));
    assert.equal(sip.version, '2.3');
    await refused(m((t) => t.replace('<Comment>', '<Unknown>x</Unknown><Comment>')), 'SCHEMA_INVALID');
  });

  test('a declared file missing', async () => {
    const err = await refused(edit.withoutFile(base, 'Content/rapport.pdf'), 'DECLARED_FILE_MISSING');
    assert.deepEqual({ element: err.where?.element, id: err.where?.id }, { element: 'BinaryDataObject', id: 'BDO-1' });
    assert.match(err.message, /Content\/rapport\.pdf/);
  });

  test('a file not declared', async () => {
    const err = await refused(edit.withFile(base, 'Content/extra.bin', 'surprise'), 'UNDECLARED_FILE');
    assert.equal(err.where?.file, 'Content/extra.bin');
  });

  test('a digest that does not match (each algorithm)', async () => {
    for (const file of ['Content/rapport.pdf', 'Content/rapport.txt', 'Content/images/photo 001.png']) {
      const err = await refused(edit.replaceFile(base, file, 'altered bytes'), 'DIGEST_MISMATCH');
      assert.match(err.message, /declares/);
    }
  });

  test('an unknown digest algorithm name', async () => {
    for (const name of ['SHA-999', 'sha256', 'SHA256']) {
      const err = await refused(m((t) => t.replace('algorithm="SHA-512"', `algorithm="${name}"`)), 'UNKNOWN_DIGEST_ALGORITHM');
      assert.match(err.message, new RegExp(`"${name}"`));
    }
  });

  test('unsafe names in Uri', async () => {
    for (const uri of ['../outside.pdf', '/etc/passwd', 'Content/../../x', 'Content\\rapport.pdf', 'Content/a&#x7f;b']) {
      const err = await refused(m((t) => t.replace('<Uri>Content/rapport.pdf</Uri>', `<Uri>${uri}</Uri>`)), 'UNSAFE_NAME');
      assert.equal(err.where?.id, 'BDO-1');
    }
  });

  test('a cycle in the unit tree', async () => {
    const cyclic = m((t) => t.replace('<DataObjectReferenceId>BDO-3</DataObjectReferenceId>\n          </DataObjectReference>\n        </ArchiveUnit>',
      '<DataObjectReferenceId>BDO-3</DataObjectReferenceId>\n          </DataObjectReference>\n        </ArchiveUnit>\n        <ArchiveUnit id="AU-6"><ArchiveUnitRefId>AU-1</ArchiveUnitRefId></ArchiveUnit>'));
    const err = await refused(cyclic, 'UNIT_CYCLE');
    assert.match(err.message, /AU-1 → AU-4 → AU-1/);
  });

  test('references to undeclared units, groups and objects', async () => {
    await refused(m((t) => t.replace('<ArchiveUnitRefId>AU-4</ArchiveUnitRefId>', '<ArchiveUnitRefId>AU-404</ArchiveUnitRefId>')), 'UNKNOWN_UNIT');
    const g = await refused(m((t) => t.replace('<DataObjectGroupReferenceId>GOT-1</DataObjectGroupReferenceId>', '<DataObjectGroupReferenceId>GOT-404</DataObjectGroupReferenceId>')), 'UNKNOWN_GROUP');
    assert.equal(g.where?.id, 'AU-2');
    await refused(m((t) => t.replace('<DataObjectReferenceId>BDO-3</DataObjectReferenceId>', '<DataObjectReferenceId>BDO-404</DataObjectReferenceId>')), 'UNKNOWN_OBJECT');
    await refused(m((t) => t.replace('<DataObjectReferenceId>BDO-3</DataObjectReferenceId>', '<DataObjectReferenceId>BDO-1</DataObjectReferenceId>')), 'OBJECT_REFERENCED_OUTSIDE_GROUP');
  });

  test('a physical object declared as binary, and the reverse', async () => {
    await refused(m((t) => t.replace('<DataObjectVersion>BinaryMaster_1</DataObjectVersion>', '<DataObjectVersion>PhysicalMaster_1</DataObjectVersion>')), 'PHYSICAL_DECLARED_AS_BINARY');
    const noUri = edit.withoutFile(m((t) => t.replace('<Uri>Content/rapport.pdf</Uri>', '')), 'Content/rapport.pdf');
    const err = await refused(noUri, 'PHYSICAL_DECLARED_AS_BINARY');
    assert.match(err.message, /PhysicalDataObject/);
    await refused(m((t) => t.replace('<DataObjectVersion>PhysicalMaster_1</DataObjectVersion>', '<DataObjectVersion>BinaryMaster_2</DataObjectVersion>')), 'BINARY_DECLARED_AS_PHYSICAL');
  });

  test('duplicate ids are refused by the checks, with or without the schema', async () => {
    // The streaming XSD validation (xmllint --stream) does not enforce xsd:ID uniqueness; the
    // checks do, and say where.
    const dup = m((t) => t.replace('id="AU-5"', 'id="AU-2"'));
    const err = await refused(dup, 'DUPLICATE_ID');
    assert.match(err.message, /AU-2/);
    await refused(dup, 'DUPLICATE_ID', { validateSchema: false });
  });

  test('every problem is listed, the first one in the message', async () => {
    const many = edit.withFile(edit.withoutFile(base, 'Content/rapport.pdf'), 'Content/extra', 'x');
    const err = await refused(many, 'DECLARED_FILE_MISSING');
    assert.deepEqual(err.issues.map((i) => i.code).sort(), ['DECLARED_FILE_MISSING', 'UNDECLARED_FILE']);
    assert.match(err.message, /and 1 more problem/);
  });
});

describe('warnings and options', () => {
  test('a wrong declared Size is a warning and the real size is kept', async () => {
    const pkg = edit.manifest(sampleSeda('2.2'), (t) => t.replace(`<Size>${SAMPLE_PDF.length}</Size>`, '<Size>999999</Size>'));
    const sip = await ingest(pkg);
    assert.deepEqual(sip.warnings.map((w) => [w.code, w.where?.id]), [['SIZE_MISMATCH', 'BDO-1']]);
    const pdf = sip.objects.find((o) => o.id === 'BDO-1')!;
    assert.equal(pdf.size, SAMPLE_PDF.length);
    assert.equal(pdf.declaredSize, 999999);
  });

  test('digests can be left to a per-object step', async () => {
    const pkg = edit.replaceFile(sampleSeda('2.3'), 'Content/rapport.pdf', 'altered');
    const path = await writePackage(join(tmp.path, `p${n++}.zip`), pkg);
    const ws = new Workspaces({ root: join(tmp.path, 'ws') }).open(`op${n++}`);
    const listing = await ws.unpack(path, { digests: ['sha256'] });
    const sip = await readPackage(ws, listing, { checkDigests: false });
    const files = new Map(listing.files.map((f) => [f.path, f]));
    const results = await Promise.all(sip.objects.filter((o) => o.kind === 'binary').map(async (o) => [o.id, await verifyObjectDigest(ws, o, files.get(o.path!))]));
    assert.deepEqual(results, [['BDO-1', false], ['BDO-2', true], ['BDO-3', true]]);
  });
});

describe('the fixture catalogue of bad packages (used by the ingest end-to-end tests)', () => {
  for (const version of SEDA_VERSIONS) {
    test(`every bad SEDA ${version} package is refused with its code`, async () => {
      const { badSedaPackages } = await import('../fixtures/packages.ts');
      const { WorkspaceError } = await import('../../src/workspace/index.ts');
      for (const bad of badSedaPackages(version)) {
        const err = await ingest(bad.pkg).then(() => undefined, (e: unknown) => e);
        const expected = bad.stage === 'unpack' ? WorkspaceError : SipError;
        assert.ok(err instanceof expected, `${bad.title}: expected ${expected.name}, got ${String(err)}`);
        assert.equal((err as SipError).code, bad.code, `${bad.title}: ${(err as Error).message}`);
      }
    });
  }
});

describe('manifest limits', () => {
  const base = sampleSeda('2.3');
  test('a manifest larger than sip.maxManifestSize', async () => {
    await refused(base, 'MANIFEST_TOO_LARGE', { maxManifestSize: 1000 });
  });
  test('elements nested deeper than sip.maxXmlDepth', async () => {
    const err = await refused(base, 'MANIFEST_MALFORMED', { maxXmlDepth: 5 });
    assert.match(err.message, /deeper than 5/);
  });
  test('a text longer than sip.maxXmlText', async () => {
    await refused(edit.manifest(base, (t) => t.replace('Fonds de test', 'x'.repeat(5000))), 'MANIFEST_MALFORMED', { maxXmlText: 4096 });
  });
  test('a unit tree deeper than sip.maxUnitDepth', async () => {
    const err = await refused(base, 'UNIT_TREE_TOO_DEEP', { maxUnitDepth: 2 });
    assert.equal(err.where?.element, 'ArchiveUnit');
  });
});
