import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { Workspaces, WorkspaceError, type WorkspaceErrorCode } from '../../src/workspace/index.ts';
import { writeArchive, zeros, noise, type ArchiveFormat, type FixtureEntry } from '../fixtures/archives.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir('coffre-ws-');
after(() => tmp.cleanup());
let n = 0;
const workspaces = () => new Workspaces({ root: join(tmp.path, `root${n++}`) });

async function archive(format: ArchiveFormat, entries: FixtureEntry[]): Promise<string> {
  const path = join(tmp.path, `pkg${n++}.${format}`);
  await writeArchive(path, format, entries);
  return path;
}

async function refused(promise: Promise<unknown>, code: WorkspaceErrorCode, entry?: string): Promise<WorkspaceError> {
  const err = await promise.then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof WorkspaceError, `expected a WorkspaceError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (entry !== undefined) assert.equal(err.entry, entry);
  return err;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

for (const format of ['zip', 'tar', 'tar.gz'] as const) {
  describe(`valid ${format}`, () => {
    const big = noise(300_000, 7);
    let pkg: string;
    before(async () => {
      pkg = await archive(format, [
        { name: 'manifest.xml', data: '<x/>' },
        { name: 'Content/', type: 'directory' },
        { name: 'Content/a.txt', data: 'hello' },
        { name: 'Content/sub/big.bin', data: big },
        { name: 'Content/empty', data: '' },
        { name: 'Content/été ü.txt', data: 'accents' },
      ]);
    });

    test('lists every file with its real size and digests computed while unpacking', async () => {
      const ws = workspaces().open('op-1');
      const result = await ws.unpack(pkg, { digests: ['sha256', 'md5'] });
      assert.equal(result.kind, format);
      assert.equal(result.reused, false);
      assert.deepEqual(result.files.map((f) => f.path), ['manifest.xml', 'Content/a.txt', 'Content/sub/big.bin', 'Content/empty', 'Content/été ü.txt']);
      const bigFile = result.files.find((f) => f.path === 'Content/sub/big.bin')!;
      assert.equal(bigFile.size, big.length);
      assert.equal(bigFile.digests.sha256, sha256(big));
      assert.equal(bigFile.digests.md5, createHash('md5').update(big).digest('hex'));
      assert.equal(result.totalSize, 4 + 5 + big.length + 0 + 7);
      assert.equal(await text(await ws.openRead('Content/a.txt')), 'hello');
      assert.equal(await text(await ws.openRead('Content/sub/big.bin', { start: 1, end: 3 })), big.subarray(1, 4).toString());
      assert.equal(await ws.size('Content/sub/big.bin'), big.length);
      assert.deepEqual(await readFile(ws.resolve('Content/sub/big.bin')), big);
    });

    test('a second unpack of the same operation returns the stored listing', async () => {
      const ws = workspaces().open('op-2');
      const first = await ws.unpack(pkg);
      const again = await ws.unpack(pkg);
      assert.equal(again.reused, true);
      assert.deepEqual(again.files, first.files);
    });
  });
}

describe('replay and housekeeping', () => {
  test('leftovers of an interrupted unpack are removed and a failed unpack publishes nothing', async () => {
    const ws = workspaces().open('op-replay');
    await mkdir(join(ws.dir, '.unpack-dead', 'content'), { recursive: true });
    await writeFile(join(ws.dir, '.unpack-dead', 'content', 'half'), 'x');
    const bad = await archive('zip', [{ name: 'ok.txt', data: 'fine' }, { name: '../evil', data: 'x' }]);
    await refused(ws.unpack(bad), 'UNSAFE_NAME', '../evil');
    assert.deepEqual(readdirSync(ws.dir), []);
    assert.equal(await ws.listing(), undefined);
    const good = await archive('zip', [{ name: 'ok.txt', data: 'fine' }]);
    const result = await ws.unpack(good);
    assert.equal(result.files.length, 1);
    assert.deepEqual(readdirSync(ws.dir), ['unpacked']);
  });

  test('outputs are written atomically, read back, and the workspace removed', async () => {
    const ws = workspaces().open('op-out');
    await ws.writeOutput('reports/ack.json', '{"ok":true}');
    assert.equal((await ws.readOutput('reports/ack.json'))?.toString(), '{"ok":true}');
    assert.equal(await ws.readOutput('nothing.json'), undefined);
    await ws.remove();
    assert.equal(existsSync(ws.dir), false);
    await ws.remove();
  });

  test('reading outside the package or a missing file is refused', async () => {
    const ws = workspaces().open('op-read');
    await ws.unpack(await archive('tar', [{ name: 'a', data: 'a' }]));
    await refused(ws.openRead('../unpacked/listing.json'), 'UNSAFE_NAME');
    await refused(ws.openRead('/etc/passwd'), 'UNSAFE_NAME');
    await refused(ws.openRead('missing'), 'NOT_FOUND');
    await refused(ws.size('missing'), 'NOT_FOUND');
  });

  test('operation ids that could escape the root are refused', async () => {
    const ws = workspaces();
    for (const id of ['', '..', '../x', 'a/b', '.hidden']) assert.throws(() => ws.open(id), (e: unknown) => e instanceof WorkspaceError && e.code === 'INVALID_OPERATION_ID');
    assert.deepEqual(await ws.list(), []);
  });
});

describe('refusals', () => {
  const cases: Array<[string, ArchiveFormat, FixtureEntry[], WorkspaceErrorCode, string]> = [
    ['absolute name (zip)', 'zip', [{ name: '/etc/evil', data: 'x' }], 'UNSAFE_NAME', '/etc/evil'],
    ['absolute name (tar)', 'tar', [{ name: '/etc/evil', data: 'x' }], 'UNSAFE_NAME', '/etc/evil'],
    ['path traversal (zip)', 'zip', [{ name: 'Content/../../evil', data: 'x' }], 'UNSAFE_NAME', 'Content/../../evil'],
    ['path traversal (tar.gz)', 'tar.gz', [{ name: 'a/../../evil', data: 'x' }], 'UNSAFE_NAME', 'a/../../evil'],
    ['backslash (zip)', 'zip', [{ name: 'Content\\evil.txt', data: 'x' }], 'UNSAFE_NAME', 'Content\\evil.txt'],
    ['drive letter (tar)', 'tar', [{ name: 'C:/evil', data: 'x' }], 'UNSAFE_NAME', 'C:/evil'],
    ['control character (tar)', 'tar', [{ name: 'a\u0007b', data: 'x' }], 'UNSAFE_NAME', 'a\u0007b'],
    ['control character (zip)', 'zip', [{ name: 'a\nb', data: 'x' }], 'UNSAFE_NAME', 'a\nb'],
    ['empty segment', 'tar', [{ name: 'a//b', data: 'x' }], 'UNSAFE_NAME', 'a//b'],
    ['duplicate name (zip)', 'zip', [{ name: 'a.txt', data: 'x' }, { name: 'a.txt', data: 'y' }], 'DUPLICATE_ENTRY', 'a.txt'],
    ['duplicate name (tar)', 'tar', [{ name: 'd/a.txt', data: 'x' }, { name: './d/a.txt', data: 'y' }], 'DUPLICATE_ENTRY', './d/a.txt'],
    ['file then folder of the same name', 'tar', [{ name: 'a', data: 'x' }, { name: 'a/b', data: 'y' }], 'DUPLICATE_ENTRY', 'a/b'],
    ['symlink (tar)', 'tar', [{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }], 'LINK_ENTRY', 'link'],
    ['hard link (tar)', 'tar', [{ name: 'a', data: 'x' }, { name: 'hard', type: 'hardlink', linkname: 'a' }], 'LINK_ENTRY', 'hard'],
    ['symlink (zip)', 'zip', [{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }], 'LINK_ENTRY', 'link'],
    ['fifo (tar)', 'tar', [{ name: 'pipe', type: 'fifo' }], 'SPECIAL_ENTRY', 'pipe'],
    ['character device (tar)', 'tar', [{ name: 'dev', type: 'character-device' }], 'SPECIAL_ENTRY', 'dev'],
    ['fifo (zip)', 'zip', [{ name: 'pipe', type: 'fifo' }], 'SPECIAL_ENTRY', 'pipe'],
    ['name too long', 'tar', [{ name: `${'a'.repeat(200)}/${'b'.repeat(300)}`, data: 'x' }], 'NAME_TOO_LONG', `${'a'.repeat(200)}/${'b'.repeat(300)}`],
    ['too deep', 'zip', [{ name: `${'d/'.repeat(40)}f`, data: 'x' }], 'TOO_DEEP', `${'d/'.repeat(40)}f`],
  ];
  for (const [title, format, entries, code, entry] of cases) {
    test(title, async () => {
      const ws = workspaces().open('op');
      const err = await refused(ws.unpack(await archive(format, entries)), code, entry);
      assert.ok(err.message.includes(JSON.stringify(entry)), `message names the entry: ${err.message}`);
      assert.equal(await ws.listing(), undefined);
    });
  }

  test('zip bomb: one entry inflating far past its compressed size is stopped while streaming', async () => {
    const pkg = await archive('zip', [{ name: 'bomb.bin', data: zeros(64 * 2 ** 20), size: 64 * 2 ** 20 }]);
    const ws = new Workspaces({ root: join(tmp.path, 'bomb'), limits: { maxTotalRatio: 1e9 } }).open('op');
    const err = await refused(ws.unpack(pkg), 'RATIO_EXCEEDED', 'bomb.bin');
    assert.match(err.message, /compression ratio above 100/);
  });

  test('overall ratio: a tar.gz inflating past the limit is refused', async () => {
    const pkg = await archive('tar.gz', [{ name: 'zeros.bin', data: zeros(16 * 2 ** 20), size: 16 * 2 ** 20 }]);
    const err = await refused(workspaces().open('op').unpack(pkg), 'RATIO_EXCEEDED', 'zeros.bin');
    assert.match(err.message, /ratio above 100/);
  });

  test('small, well-compressed files are not judged on their ratio', async () => {
    const pkg = await archive('zip', [{ name: 'zeros.bin', data: Buffer.alloc(500_000) }]);
    const result = await workspaces().open('op').unpack(pkg);
    assert.equal(result.files[0].size, 500_000);
  });

  test('entry-count limit (zip: from the directory, before reading; tar: while reading)', async () => {
    const entries = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    const limited = () => new Workspaces({ root: join(tmp.path, `lim${n++}`), limits: { maxEntries: 5 } }).open('op');
    await refused(limited().unpack(await archive('zip', entries)), 'TOO_MANY_ENTRIES');
    await refused(limited().unpack(await archive('tar', entries)), 'TOO_MANY_ENTRIES', 'f5');
  });

  test('total and per-file size limits count real bytes', async () => {
    const entries = [{ name: 'a', data: noise(3000, 1) }, { name: 'b', data: noise(3000, 2) }];
    const ws = (limits: object) => new Workspaces({ root: join(tmp.path, `size${n++}`), limits }).open('op');
    await refused(ws({ maxTotalSize: 5000 }).unpack(await archive('tar', entries)), 'TOO_LARGE', 'b');
    await refused(ws({ maxEntrySize: 2000 }).unpack(await archive('zip', entries)), 'TOO_LARGE', 'a');
  });

  test('something that is not an archive, and a truncated zip', async () => {
    const notArchive = join(tmp.path, 'not-an-archive');
    await writeFile(notArchive, 'just some text, long enough to look at');
    await refused(workspaces().open('op').unpack(notArchive), 'UNKNOWN_ARCHIVE_FORMAT');
    const zip = await archive('zip', [{ name: 'a', data: noise(10_000) }]);
    const truncated = join(tmp.path, 'truncated.zip');
    await writeFile(truncated, (await readFile(zip)).subarray(0, 5000));
    await refused(workspaces().open('op').unpack(truncated), 'CORRUPT_ARCHIVE');
    const tar = await archive('tar', [{ name: 'a', data: noise(10_000) }, { name: 'b', data: 'b' }]);
    const cut = join(tmp.path, 'truncated.tar');
    await writeFile(cut, (await readFile(tar)).subarray(0, 4096));
    const ws = workspaces().open('op');
    await refused(ws.unpack(cut), 'CORRUPT_ARCHIVE');
    assert.deepEqual(readdirSync(ws.dir), [], 'nothing published, no leftovers');
  });
});

describe('STORED zip entries left in the package', () => {
  const big = noise(200_000, 11);
  const small = noise(500, 12);
  let pkg: string;
  const inPackage = (extra: Record<string, unknown> = {}) => new Workspaces({ root: join(tmp.path, `root${n++}`), inPackageMinSize: 1000, ...extra });
  before(async () => {
    pkg = await archive('zip', [
      { name: 'manifest.xml', data: '<x/>' },
      { name: 'Content/big.bin', data: big, store: true },
      { name: 'Content/small.bin', data: small, store: true },
      { name: 'Content/deflated.bin', data: zeros(50_000) },
    ]);
  });

  test('are digested in one read, not copied, and read back by range of the package', async () => {
    const spaces = inPackage();
    const ws = spaces.open('op-range');
    const result = await ws.unpack(pkg, { digests: ['sha256'] });
    const bigFile = result.files.find((f) => f.path === 'Content/big.bin')!;
    assert.equal(bigFile.size, big.length);
    assert.equal(bigFile.digests.sha256, sha256(big));
    assert.ok(bigFile.inPackage, 'the large stored entry stays in the package');
    assert.equal(result.files.find((f) => f.path === 'Content/small.bin')!.inPackage, undefined, 'below the threshold: copied');
    assert.equal(result.files.find((f) => f.path === 'Content/deflated.bin')!.inPackage, undefined, 'compressed: copied');
    assert.equal(existsSync(join(ws.contentDir, 'Content/big.bin')), false);
    assert.ok(existsSync(join(ws.contentDir, 'Content/small.bin')));
    assert.equal(await ws.size('Content/big.bin'), big.length);
    const at = await ws.locate('Content/big.bin');
    assert.equal(at.size, big.length);
    assert.deepEqual((await readFile(at.file)).subarray(at.start, at.start + at.size), big);
    assert.equal(sha256(Buffer.from(await (await ws.openRead('Content/big.bin')).toArray().then((c) => Buffer.concat(c as Buffer[])))), sha256(big));
    const part = Buffer.concat((await (await ws.openRead('Content/big.bin', { start: 10, end: 19 })).toArray()) as Buffer[]);
    assert.deepEqual(part, big.subarray(10, 20));
    // A fresh process (cold cache) finds the same bytes; a replay reuses the listing.
    const again = inPackage({ root: spaces.root }).open('op-range');
    assert.equal((await again.unpack(pkg)).reused, true);
    assert.equal(sha256(Buffer.concat((await (await again.openRead('Content/big.bin')).toArray()) as Buffer[])), sha256(big));
    assert.equal((await again.locate('Content/small.bin')).file, join(again.contentDir, 'Content/small.bin'));
    await refused(again.size('Content/nothing'), 'NOT_FOUND');
  });

  test('count their real bytes against the limits', async () => {
    await refused(inPackage({ limits: { maxEntrySize: 100_000 } }).open('op-limit').unpack(pkg), 'TOO_LARGE', 'Content/big.bin');
    await refused(inPackage({ limits: { maxTotalSize: 150_000 } }).open('op-total').unpack(pkg), 'TOO_LARGE', 'Content/big.bin');
  });

  test('a stored entry whose bytes are cut short is refused', async () => {
    // The central directory survives but the entry's data is shortened in place: its header lies.
    const bytes = await readFile(pkg);
    const ws = inPackage().open('op-cut');
    const at = { start: bytes.indexOf(big.subarray(0, 64)) };
    assert.ok(at.start > 0);
    // Overwrite the local header's name length so the data appears to start later than it does.
    const header = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), at.start);
    const cut = Buffer.from(bytes);
    cut.writeUInt16LE(cut.readUInt16LE(header + 26) + 60_000, header + 26);
    const broken = join(tmp.path, 'lying-header.zip');
    await writeFile(broken, cut);
    await refused(ws.unpack(broken), 'CORRUPT_ARCHIVE');
  });
});

describe('format identification while unpacking', () => {
  const identify = { bytes: 16, identify: (head: Buffer) => (head.subarray(0, 4).toString() === '%PDF' ? { puid: 'fmt/x', mimeType: 'application/pdf', name: `head ${head.length}` } : undefined) };

  test('each file is identified from its first bytes in the same pass (copied or left in the package)', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), noise(100_000, 3)]);
    const pkg = await archive('zip', [
      { name: 'stored.pdf', data: pdf, store: true },
      { name: 'deflated.pdf', data: pdf },
      { name: 'other.bin', data: noise(50, 4), store: true },
      { name: 'empty', data: '' },
    ]);
    const ws = new Workspaces({ root: join(tmp.path, `root${n++}`), inPackageMinSize: 0 }).open('op-format');
    const result = await ws.unpack(pkg, { digests: ['sha256'], identify });
    const byName = new Map(result.files.map((f) => [f.path, f]));
    assert.ok(byName.get('stored.pdf')!.inPackage);
    // At most `bytes` bytes are handed to the identifier.
    assert.deepEqual(byName.get('stored.pdf')!.format, { puid: 'fmt/x', mimeType: 'application/pdf', name: 'head 16' });
    assert.deepEqual(byName.get('deflated.pdf')!.format, { puid: 'fmt/x', mimeType: 'application/pdf', name: 'head 16' });
    assert.equal(byName.get('other.bin')!.format, null);
    assert.equal(byName.get('empty')!.format, null);
    assert.equal(byName.get('stored.pdf')!.digests.sha256, sha256(pdf));
    // Without an identifier, nothing is listed.
    const plain = await new Workspaces({ root: join(tmp.path, `root${n++}`) }).open('op-plain').unpack(pkg);
    assert.ok(plain.files.every((f) => !('format' in f)));
  });

  test('thousands of small stored entries: each read back exactly (cached blocks shared by neighbours)', async () => {
    const datas = Array.from({ length: 2000 }, (_, i) => noise(100 + (i % 700), i + 1));
    const pkg = await archive('zip', datas.map((data, i) => ({ name: `Content/${i}.bin`, data, store: true })));
    const ws = new Workspaces({ root: join(tmp.path, `root${n++}`), inPackageMinSize: 0 }).open('op-many');
    const result = await ws.unpack(pkg, { digests: ['sha256'] });
    assert.equal(result.files.length, 2000);
    result.files.forEach((f, i) => {
      assert.equal(f.size, datas[i].length);
      assert.equal(f.digests.sha256, sha256(datas[i]), f.path);
    });
    const at = await ws.locate('Content/1999.bin');
    assert.deepEqual((await readFile(at.file)).subarray(at.start, at.start + at.size), datas[1999]);
  });
});

describe('whole-file reads (readBytes)', () => {
  test('read entries left in the package through one shared handle, and workspace files', async () => {
    const datas = Array.from({ length: 300 }, (_, i) => noise(50 + i, i + 100));
    const pkg = await archive('zip', [
      ...datas.map((data, i) => ({ name: `Content/${i}.bin`, data, store: true })),
      { name: 'Content/deflated.txt', data: 'deflated '.repeat(50) },
    ]);
    const spaces = new Workspaces({ root: join(tmp.path, `root${n++}`), inPackageMinSize: 0 });
    const ws = spaces.open('op-bytes');
    await ws.unpack(pkg);
    const got = await Promise.all(datas.map((_, i) => ws.readBytes(`Content/${i}.bin`)));
    got.forEach((b, i) => assert.deepEqual(b, datas[i]));
    assert.equal((await ws.readBytes('Content/deflated.txt')).toString(), 'deflated '.repeat(50));
    await refused(ws.readBytes('Content/none'), 'NOT_FOUND');
    // Other operations' packages (more than are kept open) do not disturb it.
    for (let k = 0; k < 10; k++) {
      const other = spaces.open(`op-other-${k}`);
      await other.unpack(await archive('zip', [{ name: 'x.bin', data: noise(10, k), store: true }]));
      assert.deepEqual(await other.readBytes('x.bin'), noise(10, k));
    }
    assert.deepEqual(await ws.readBytes('Content/7.bin'), datas[7]);
    await ws.remove();
  });
});
