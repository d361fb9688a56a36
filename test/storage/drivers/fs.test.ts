import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { driver } from '../../../src/storage/drivers/fs/index.ts';
import { DEFAULT_LIMITS } from '../../../src/storage/config.ts';
import { objectPaths } from '../../../src/storage/drivers/fs/layout.ts';
import { checkpointPolicy } from '../../../src/storage/drivers/fs/checkpoint.ts';
import { unfinishedName } from '../../../src/storage/drivers/fs/spread.ts';
import type { OfferDefinition } from '../../../src/storage/contract.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { runDriverContractSuite } from '../contract-suite.ts';

const fsOffer = (path: string, id = 'fs-offer'): OfferDefinition => ({ id, driver: 'fs', parameters: { path }, limits: { ...DEFAULT_LIMITS } });

runDriverContractSuite('fs', async () => {
  const dir = tempDir('coffre-fs-contract-');
  return { driver, offer: fsOffer(join(dir.path, 'offer')), cleanup: async () => dir.cleanup() };
});

const leafOf = (root: string, id: string, width: number) => {
  const h = createHash('sha256').update(id).digest('hex');
  return join(root, 'objects', h.slice(0, width), h.slice(width, 2 * width));
};

test('fs layout: container/x/y/id from a hash of the id, digest kept in a link beside it; a big object held until a checkpoint, a small one kept in a segment', async () => {
  const dir = tempDir();
  const conn = await driver.connect(fsOffer(dir.path));
  const tmp = join(dir.path, '.coffre-offer', 'tmp');
  const inline = join(dir.path, '.coffre-offer', 'inline');
  const small = Buffer.from('layout');
  try {
    const big = Buffer.alloc(100_000, 'b');
    await conn.put({ container: 'objects', id: 'abc', body: Readable.from([big]), size: big.length, digestAlgorithm: 'sha512' });
    const leaf = leafOf(dir.path, 'abc', 1);
    const digest = createHash('sha512').update(big).digest('hex');
    assert.deepEqual(readdirSync(leaf).sort(), [`.abc.sha512.${digest}`, 'abc']);
    assert.equal(statSync(join(leaf, `.abc.sha512.${digest}`)).ino, statSync(join(leaf, 'abc')).ino, 'a second name of the same inode');
    assert.equal(objectPaths(dir.path, 'objects', 'abc').file, join(leaf, 'abc'));
    const held = readdirSync(tmp);
    assert.equal(held.length, 1, 'the temp file is held until a checkpoint');
    assert.equal(statSync(join(tmp, held[0])).ino, statSync(join(leaf, 'abc')).ino, 'a third name of the same inode');

    await conn.put({ container: 'objects', id: 'def', body: Readable.from([small]), size: small.length, digestAlgorithm: 'sha512' });
    assert.equal(readdirSync(tmp).length, 1, 'a small object holds no temp file');
    const segments = readdirSync(inline);
    assert.equal(segments.length, 1, 'its bytes wait in a segment');
    assert.ok(readFileSync(join(inline, segments[0])).includes(small));
    assert.equal(existsSync(join(leafOf(dir.path, 'def', 1), 'def')), false, 'its file is written by the next checkpoint');
    const got = await conn.get('objects', 'def');
    assert.equal(got.size, small.length);
    assert.deepEqual(Buffer.concat(await collect(got.body)), small, 'read meanwhile from the segment');
    assert.equal(await conn.exists('objects', 'def'), true);
    assert.deepEqual(JSON.parse(readFileSync(join(dir.path, '.coffre-offer', 'layout.json'), 'utf8')), { levelWidth: 1 });
  } finally {
    await conn.close();
  }
  try {
    assert.deepEqual(readdirSync(tmp), [], 'the last close checkpoints: nothing held');
    assert.deepEqual(readdirSync(inline), [], 'and no segment left');
    const smallLeaf = leafOf(dir.path, 'def', 1);
    const smallDigest = createHash('sha512').update(small).digest('hex');
    assert.deepEqual(readdirSync(smallLeaf).filter((n) => n.includes('def')).sort(), [`.def.sha512.${smallDigest}`, 'def']);
    assert.equal(readFileSync(join(smallLeaf, 'def'), 'utf8'), 'layout');
  } finally {
    dir.cleanup();
  }
});

test('fs layout: on ext2/3/4 the offer root is a top of directory hierarchies (chattr +T), so that its containers are spread to free block groups', async (t) => {
  const dir = tempDir();
  try {
    // Whether this filesystem takes the attribute at all (tmpfs, xfs… do not: then nothing to check).
    const probe = join(dir.path, 'probe');
    mkdirSync(probe);
    if (spawnSync('chattr', ['+T', probe]).status !== 0) return t.skip('chattr +T not supported here');
    const root = join(dir.path, 'offer');
    const conn = await driver.connect(fsOffer(root));
    await conn.close();
    const attrs = spawnSync('lsattr', ['-d', root], { encoding: 'utf8' }).stdout.split(' ')[0];
    assert.match(attrs, /T/, `lsattr -d ${root}: ${attrs}`);
  } finally {
    dir.cleanup();
  }
});

test('fs layout: a container folder is made under a random name and renamed into place (spread by ext4), once, leaving nothing behind', async () => {
  const dir = tempDir();
  try {
    // Many puts at once to a container not made yet, on two connections: one folder, no temp left.
    const a = await driver.connect(fsOffer(dir.path));
    const b = await driver.connect(fsOffer(dir.path));
    const body = (s: string) => ({ body: Readable.from([Buffer.from(s)]), size: s.length, digestAlgorithm: 'sha256' as const });
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).put({ container: 'fresh', id: `o${i}`, ...body(`v${i}`) })));
    assert.deepEqual(readdirSync(dir.path).filter((n) => n !== '.coffre-offer').sort(), ['fresh']);
    const before = statSync(join(dir.path, 'fresh')).ino;
    await a.put({ container: 'fresh', id: 'later', ...body('later') });
    assert.equal(statSync(join(dir.path, 'fresh')).ino, before, 'an existing container is left as it is');
    for (let i = 0; i < 20; i++) assert.equal(Buffer.concat(await collect((await a.get('fresh', `o${i}`)).body)).toString(), `v${i}`);
    await a.close();
    await b.close();
    // A crash between the mkdir and the rename leaves an empty folder: the next opening removes it.
    const [left, kept] = [unfinishedName('other'), unfinishedName('kept')];
    mkdirSync(join(dir.path, left));
    mkdirSync(join(dir.path, kept, 'x'), { recursive: true });
    await (await driver.connect(fsOffer(dir.path))).close();
    assert.equal(existsSync(join(dir.path, left)), false);
    assert.equal(existsSync(join(dir.path, kept)), true, 'a folder with something in it stays');
  } finally {
    dir.cleanup();
  }
});

async function collect(body: AsyncIterable<unknown>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return chunks;
}

/** Closes a connection (its last close checkpoints: small objects' files are written) and opens another. */
async function reopen(conn: Awaited<ReturnType<typeof driver.connect>>, path: string) {
  await conn.close();
  return driver.connect(fsOffer(path));
}

test('fs layout: an offer made by an earlier version (a write log, no layout.json) keeps its two hex digits per level', async () => {
  const dir = tempDir();
  try {
    // As the earlier version left it: one object under objects/xx/yy, its record in the log.
    const data = Buffer.from('old');
    const digest = createHash('sha256').update(data).digest('hex');
    const leaf = leafOf(dir.path, 'old-1', 2);
    mkdirSync(leaf, { recursive: true });
    writeFileSync(join(leaf, 'old-1'), data);
    linkSync(join(leaf, 'old-1'), join(leaf, `.old-1.sha256.${digest}`));
    mkdirSync(join(dir.path, '.coffre-offer', 'tmp'), { recursive: true });
    writeFileSync(join(dir.path, '.coffre-offer', 'write-log.jsonl'), JSON.stringify({ sequence: 1, container: 'objects', id: 'old-1', action: 'write', at: new Date().toISOString() }) + '\n');
    const conn = await driver.connect(fsOffer(dir.path));
    try {
      assert.equal(await conn.digest('objects', 'old-1', { algorithm: 'sha256' }), digest);
      await conn.put({ container: 'objects', id: 'new-1', body: Readable.from([Buffer.alloc(70_000)]), size: 70_000, digestAlgorithm: 'sha256' });
      assert.ok(existsSync(join(leafOf(dir.path, 'new-1', 2), 'new-1')), 'new objects go to the same layout');
      const ids: string[] = [];
      for await (const e of conn.list('objects')) ids.push(e.id);
      assert.deepEqual(ids.sort(), ['new-1', 'old-1']);
    } finally {
      await conn.close();
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir.path, '.coffre-offer', 'layout.json'), 'utf8')), { levelWidth: 2 });
  } finally {
    dir.cleanup();
  }
});

test('fs layout: a layout.json that is not JSON or names no known width refuses the offer, saying which file and why', async () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, '.coffre-offer'), { recursive: true });
    writeFileSync(join(dir.path, '.coffre-offer', 'layout.json'), JSON.stringify({ levelWidth: 3 }));
    await assert.rejects(driver.connect(fsOffer(dir.path)), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'UNAVAILABLE');
      assert.match(e.message, /layout\.json: levelWidth must be 1 or 2, not 3/);
      return true;
    });
    writeFileSync(join(dir.path, '.coffre-offer', 'layout.json'), '{"levelWidth": 1');
    await assert.rejects(driver.connect(fsOffer(dir.path)), /layout\.json: not readable JSON/);
  } finally {
    dir.cleanup();
  }
});

test('fs digest(noCache) reads the bytes again: a rotten object is seen even when the sidecar says otherwise', async () => {
  const dir = tempDir();
  let conn = await driver.connect(fsOffer(dir.path));
  try {
    const data = Buffer.from('precious bytes');
    const { digest } = await conn.put({ container: 'objects', id: 'rot', body: Readable.from([data]), size: data.length, digestAlgorithm: 'sha512' });
    conn = await reopen(conn, dir.path);
    const { file } = objectPaths(dir.path, 'objects', 'rot');
    const bad = Buffer.from(data);
    bad[0] ^= 1;
    writeFileSync(file, bad);
    assert.equal(await conn.digest('objects', 'rot', { algorithm: 'sha512' }), digest, 'the kept value');
    assert.notEqual(await conn.digest('objects', 'rot', { algorithm: 'sha512', noCache: true }), digest);
  } finally {
    await conn.close();
    dir.cleanup();
  }
});

test('fs: a missing digest link is recomputed and kept; a stale one (other inode) is never trusted', async () => {
  const dir = tempDir();
  let conn = await driver.connect(fsOffer(dir.path));
  try {
    const data = Buffer.from('kept digest check');
    const { digest } = await conn.put({ container: 'objects', id: 'sc', body: Readable.from([data]), size: data.length, digestAlgorithm: 'sha512' });
    conn = await reopen(conn, dir.path);
    const { dir: leaf, file } = objectPaths(dir.path, 'objects', 'sc');
    const link = join(leaf, `.sc.sha512.${digest}`);
    unlinkSync(link);
    assert.equal(await conn.digest('objects', 'sc', { algorithm: 'sha512' }), digest);
    assert.ok(existsSync(link), 'kept again');
    // Replace the object behind the link's back (an interrupted remove, then a new object).
    unlinkSync(file);
    writeFileSync(file, 'other bytes');
    assert.equal(await conn.digest('objects', 'sc', { algorithm: 'sha512' }), createHash('sha512').update('other bytes').digest('hex'));
    assert.equal(await conn.remove('objects', 'sc'), true);
    assert.deepEqual(readdirSync(leaf), [], 'remove takes the digest links too');
  } finally {
    await conn.close();
    dir.cleanup();
  }
});

test('fs: the write log survives a reopen and goes on from the last sequence', async () => {
  const dir = tempDir();
  try {
    let conn = await driver.connect(fsOffer(dir.path));
    for (const id of ['a', 'b']) await conn.put({ container: 'objects', id, body: Readable.from([Buffer.from(id)]), size: 1, digestAlgorithm: 'sha512' });
    await conn.close();
    conn = await driver.connect(fsOffer(dir.path));
    await conn.remove('objects', 'a');
    const entries = [];
    for await (const e of conn.writeLog({})) entries.push([e.sequence, e.id, e.action]);
    assert.deepEqual(entries, [[1, 'a', 'write'], [2, 'b', 'write'], [3, 'a', 'delete']]);
    await conn.close();
  } finally {
    dir.cleanup();
  }
});

test('fs: a quota caps the usable capacity', async () => {
  const dir = tempDir();
  const conn = await driver.connect({ ...fsOffer(dir.path), parameters: { path: dir.path, quotaBytes: 1000 } });
  try {
    await conn.put({ container: 'objects', id: 'q', body: Readable.from([Buffer.alloc(300)]), size: 300, digestAlgorithm: 'sha512' });
    assert.deepEqual(await conn.capacity(), { usableBytes: 700, totalBytes: 1000 });
  } finally {
    await conn.close();
    dir.cleanup();
  }
});

test('fs adopts the engine digest of the bytes it is handed (PutRequest.sourceDigest) and still counts the size', async () => {
  const dir = tempDir();
  const conn = await driver.connect(fsOffer(dir.path));
  try {
    const data = Buffer.from('handed over by the engine');
    const digest = createHash('sha512').update(data).digest('hex');
    const put = await conn.put({ container: 'objects', id: 'adopted', body: Readable.from([data]), size: data.length, digestAlgorithm: 'sha512', sourceDigest: Promise.resolve(digest) });
    assert.deepEqual(put, { size: data.length, digest, alreadyExisted: false });
    assert.equal(await conn.digest('objects', 'adopted', { algorithm: 'sha512', noCache: true }), digest);
    await assert.rejects(
      conn.put({ container: 'objects', id: 'short', body: Readable.from([data]), size: data.length + 1, digestAlgorithm: 'sha512', sourceDigest: Promise.resolve(digest) }),
      (err: Error & { code?: string }) => err.code === 'SIZE_MISMATCH',
    );
    assert.equal(await conn.exists('objects', 'short'), false);
    // The source failing: its digest rejects, the write fails and leaves nothing.
    const broken = Promise.reject(new Error('source broke'));
    broken.catch(() => {}); // as the engine does: the failure is reported through the put
    await assert.rejects(conn.put({ container: 'objects', id: 'failed', body: Readable.from([data]), size: data.length, digestAlgorithm: 'sha512', sourceDigest: broken }), /source broke/);
    assert.equal(await conn.exists('objects', 'failed'), false);
  } finally {
    await conn.close();
    dir.cleanup();
  }
});

test('fs: a last log line torn by a crash is ended before the next append, so the next record stays readable', async () => {
  const dir = tempDir();
  try {
    let conn = await driver.connect(fsOffer(dir.path));
    await conn.put({ container: 'objects', id: 'a', body: Readable.from([Buffer.from('a')]), size: 1, digestAlgorithm: 'sha512' });
    await conn.close();
    appendFileSync(join(dir.path, '.coffre-offer', 'write-log.jsonl'), '{"sequence":2,"container":"obj');
    conn = await driver.connect(fsOffer(dir.path));
    try {
      await conn.put({ container: 'objects', id: 'b', body: Readable.from([Buffer.from('b')]), size: 1, digestAlgorithm: 'sha512' });
      const entries = [];
      for await (const e of conn.writeLog({})) entries.push([e.sequence, e.id, e.action]);
      assert.deepEqual(entries, [[1, 'a', 'write'], [2, 'b', 'write']]);
    } finally {
      await conn.close();
    }
  } finally {
    dir.cleanup();
  }
});

test('fs: a remove before the checkpoint takes the held temp file too; the log lists no checkpoint lines', async () => {
  const dir = tempDir();
  const conn = await driver.connect(fsOffer(dir.path));
  try {
    const big = Buffer.alloc(70_000, 'x');
    await conn.put({ container: 'objects', id: 'x', body: Readable.from([big]), size: big.length, digestAlgorithm: 'sha512' });
    await conn.put({ container: 'objects', id: 'y', body: Readable.from([Buffer.from('y')]), size: 1, digestAlgorithm: 'sha512' });
    assert.equal(readdirSync(join(dir.path, '.coffre-offer', 'tmp')).length, 1);
    assert.equal(await conn.remove('objects', 'x'), true);
    assert.equal(await conn.remove('objects', 'y'), true);
    assert.deepEqual(readdirSync(join(dir.path, '.coffre-offer', 'tmp')), []);
    assert.equal(await conn.exists('objects', 'x'), false);
    assert.equal(await conn.exists('objects', 'y'), false);
  } finally {
    await conn.close();
  }
  const again = await driver.connect(fsOffer(dir.path));
  try {
    assert.equal(await again.exists('objects', 'x'), false);
    assert.equal(await again.exists('objects', 'y'), false, 'a small object removed stays removed (its segment is not replayed)');
    const entries = [];
    for await (const e of again.writeLog({})) entries.push(Object.keys(e).sort().join(','));
    assert.deepEqual(entries, Array(4).fill('action,at,container,id,sequence'), 'contract fields only, no checkpoint line');
  } finally {
    await again.close();
    dir.cleanup();
  }
});

test('fs: a remove of a small object whose file a checkpoint is writing waits for that checkpoint, so no file comes back', async () => {
  const dir = tempDir();
  const saved = { ...checkpointPolicy };
  checkpointPolicy.holds = 1; // every put starts a checkpoint at once: its object is being written when the put answers
  try {
    let conn = await driver.connect(fsOffer(dir.path));
    const paths = objectPaths(dir.path, 'objects', 'w');
    try {
      await conn.put({ container: 'objects', id: 'w', body: Readable.from([Buffer.from('written')]), size: 7, digestAlgorithm: 'sha512' });
      assert.equal(await conn.remove('objects', 'w'), true);
      assert.equal(await conn.exists('objects', 'w'), false);
    } finally {
      conn = await reopen(conn, dir.path);
    }
    try {
      assert.equal(existsSync(paths.file), false, 'the checkpoint did not write the file after the remove');
      assert.deepEqual(readdirSync(paths.dir).filter((n) => n.includes('w')), [], 'nor its digest link');
      assert.equal(await conn.exists('objects', 'w'), false);
      const log: string[] = [];
      for await (const e of conn.writeLog({})) log.push(`${e.id} ${e.action}`);
      assert.deepEqual(log, ['w write', 'w delete']);
    } finally {
      await conn.close();
    }
  } finally {
    Object.assign(checkpointPolicy, saved);
    dir.cleanup();
  }
});

for (const where of ['event loop', 'sync thread']) {
  test(`fs: a checkpoint (on the ${where}) releases the holds while the offer stays open, and writes a line where the replay starts`, async () => {
    const dir = tempDir();
    const saved = { ...checkpointPolicy };
    checkpointPolicy.holds = 3;
    checkpointPolicy.threadMinDirs = where === 'sync thread' ? 1 : Infinity;
    const conn = await driver.connect(fsOffer(dir.path));
    try {
      // Small (inline) and big (held) objects in turn.
      const bodyOf = (id: string) => (id === 'c1' || id === 'c3' ? Buffer.from(id) : Buffer.alloc(70_000, id));
      for (const id of ['c1', 'c2', 'c3', 'c4']) await conn.put({ container: 'objects', id, body: Readable.from([bodyOf(id)]), size: bodyOf(id).length, digestAlgorithm: 'sha512' });
      const tmp = join(dir.path, '.coffre-offer', 'tmp');
      const inline = join(dir.path, '.coffre-offer', 'inline');
      assert.equal(readdirSync(inline).length, 1, 'the bytes of c1 and c3 in a segment');
      const marks = () => readFileSync(join(dir.path, '.coffre-offer', 'write-log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => 'checkpoint' in l);
      // The holds go first, then the line is written: wait for both (a bound, not a timing check).
      for (let i = 0; i < 1000 && (readdirSync(tmp).length > 1 || !marks().length || readdirSync(inline).length); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(readdirSync(tmp).length <= 1, `the first holds are released (the last may wait for the timer): ${readdirSync(tmp)}`);
      assert.deepEqual(readdirSync(inline), [], 'the segment is removed once c1 and c3 are synced');
      const mark = marks()[0];
      assert.ok(mark && mark.from >= 4, `a checkpoint line from sequence 4 on: ${JSON.stringify(mark)}`);
      for (const id of ['c1', 'c2', 'c3', 'c4']) assert.equal(await conn.exists('objects', id), true);
    } finally {
      Object.assign(checkpointPolicy, saved);
      await conn.close();
      dir.cleanup();
    }
  });
}
