import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { TEST_DATABASES } from '../helpers/db.ts';
import { bufferSource, openTestStorage, readAll, type TestStorage } from './helpers.ts';

const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');
/** The engine's default digest (storage.digestAlgorithm). */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const database of TEST_DATABASES) {
  describe(`storage engine on ${database.name}`, { skip: database.skip }, () => {
    let s: TestStorage;
    before(async () => {
      s = await openTestStorage(database.name);
    });
    after(async () => {
      await s?.close();
    });
    beforeEach(() => s.faulty.reset());

    test('check: every active offer available with room → OK, a result per offer', async () => {
      const check = await s.engine.check('default', 1000);
      assert.equal(check.status, 'OK');
      assert.deepEqual(check.offers.map((o) => [o.offerId, o.status, o.available, o.capacityUnknown]), [
        ['offer-1', 'OK', true, false],
        ['offer-2', 'OK', true, false],
      ]);
      assert.ok(check.offers.every((o) => typeof o.usableBytes === 'number'));
    });

    test('check: more bytes than an offer has → KO naming it with needed vs usable', async () => {
      s.faulty.faults('offer-2').full = true;
      const check = await s.engine.check('default', 5000);
      assert.equal(check.status, 'KO');
      const o2 = check.offers.find((o) => o.offerId === 'offer-2')!;
      assert.equal(o2.status, 'KO');
      assert.match(o2.message!, /offer offer-2 has not enough room: 5000 bytes needed, 0 usable/);
      assert.equal(check.offers.find((o) => o.offerId === 'offer-1')!.status, 'OK');
    });

    test('an offer down → the check is KO and names it, and a write writes nothing anywhere', async () => {
      s.faulty.faults('offer-2').unavailable = true;
      const check = await s.engine.check('default', 10);
      assert.equal(check.status, 'KO');
      const o2 = check.offers.find((o) => o.offerId === 'offer-2')!;
      assert.equal(o2.available, false);
      assert.match(o2.message!, /offer-2/);
      const data = randomBytes(1000);
      const result = await s.engine.write({ container: 'objects', id: 'down-1', source: bufferSource(data) });
      assert.equal(result.status, 'KO');
      assert.match(result.message!, /nothing written.*offer-2/);
      assert.equal(s.faulty.putAttempts('offer-2'), 0);
      s.faulty.reset();
      assert.deepEqual(await s.engine.exists('default', 'objects', 'down-1'), { 'offer-1': false, 'offer-2': false });
      assert.equal(await s.engine.objectRecord('objects', 'down-1'), undefined);
    });

    test('write: one read fanned out to every offer, digests verified, records of the object and each copy', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 5);
      let opens = 0;
      const source = { size: data.length, open: () => (opens++, bufferSource(data).open()) };
      const result = await s.engine.write({ container: 'objects', id: 'w-1', source });
      assert.equal(result.status, 'OK', result.message ?? '');
      assert.equal(opens, 1, 'the source is read once');
      assert.equal(result.digest, sha256(data));
      assert.equal(result.digestAlgorithm, 'sha256');
      assert.deepEqual(result.copies.map((c) => [c.offerId, c.status, c.digest, c.size, c.attempts]), [
        ['offer-1', 'OK', sha256(data), data.length, 1],
        ['offer-2', 'OK', sha256(data), data.length, 1],
      ]);
      const record = await s.engine.objectRecord('objects', 'w-1');
      assert.equal(record?.digest, sha256(data));
      assert.equal(Number(record?.size), data.length);
      assert.equal(record?.status, 'OK');
      const copies = await s.cdb.db.selectFrom('storage_copy').selectAll().where('object_id', '=', 'w-1').orderBy('offer_id').execute();
      assert.deepEqual(copies.map((c) => [c.offer_id, c.digest, Number(c.size)]), [
        ['offer-1', sha256(data), data.length],
        ['offer-2', sha256(data), data.length],
      ]);
      assert.ok(copies.every((c) => typeof c.written_at === 'string'));
    });

    test('write again with identical content: ALREADY_EXISTS counts as success; other content is KO', async () => {
      const data = randomBytes(10_000);
      assert.equal((await s.engine.write({ container: 'objects', id: 'again', source: bufferSource(data) })).status, 'OK');
      const second = await s.engine.write({ container: 'objects', id: 'again', source: bufferSource(data) });
      assert.equal(second.status, 'OK');
      assert.deepEqual(second.copies.map((c) => c.status), ['ALREADY_EXISTS', 'ALREADY_EXISTS']);
      const other = await s.engine.write({ container: 'objects', id: 'again', source: bufferSource(randomBytes(10_000)) });
      assert.equal(other.status, 'KO');
      assert.ok(other.copies.every((c) => c.status === 'KO' && /CONFLICT/.test(c.message!) && c.attempts === 1), 'a conflict is not retried');
    });

    test('an offer failing mid-write is retried with a new read of the source, and then succeeds', async () => {
      const f = s.faulty.faults('offer-2');
      f.failAfterBytes = 100_000;
      f.failTimes = 1;
      const data = randomBytes(400_000);
      let opens = 0;
      const result = await s.engine.write({ container: 'objects', id: 'retry-ok', source: { size: data.length, open: () => (opens++, bufferSource(data).open()) } });
      assert.equal(result.status, 'OK', result.message ?? '');
      const o2 = result.copies.find((c) => c.offerId === 'offer-2')!;
      assert.equal(o2.attempts, 2);
      assert.equal(result.copies.find((c) => c.offerId === 'offer-1')!.attempts, 1, 'the healthy offer is not written again');
      assert.equal(opens, 2, 'one fanned-out read, one reread for the retry');
      assert.equal(s.faulty.putAttempts('offer-2'), 2);
    });

    test('small objects: read once whole, retried from the same bytes; a source of another size writes nothing', async () => {
      const f = s.faulty.faults('offer-2');
      f.failAfterBytes = 1000;
      f.failTimes = 1;
      const data = randomBytes(4096);
      let opens = 0;
      const result = await s.engine.write({ container: 'objects', id: 'small-retry', source: { size: data.length, open: () => (opens++, bufferSource(data, 1000).open()) } });
      assert.equal(result.status, 'OK', result.message ?? '');
      assert.deepEqual(result.copies.map((c) => [c.offerId, c.attempts, c.digest]), [['offer-1', 1, sha256(data)], ['offer-2', 2, sha256(data)]]);
      assert.equal(opens, 1, 'the retry wrote the bytes already read');
      assert.deepEqual(await readAll((await s.engine.read({ container: 'objects', id: 'small-retry', verifyDigest: true })).body), data);

      // A source that holds its bytes is not opened; bytes of another length than its size write nothing.
      const held = randomBytes(2000);
      const noOpen = () => assert.fail('open() called on a source that holds its bytes');
      const fromBytes = await s.engine.write({ container: 'objects', id: 'small-held', source: { size: held.length, open: noOpen, bytes: held } });
      assert.equal(fromBytes.status, 'OK', fromBytes.message ?? '');
      assert.equal(fromBytes.digest, sha256(held));
      const wrongLength = await s.engine.write({ container: 'objects', id: 'small-held-bad', source: { size: 2001, open: noOpen, bytes: held } });
      assert.match(wrongLength.message!, /the source gave 2000 bytes, 2001 announced/);
      assert.deepEqual(await s.engine.exists('default', 'objects', 'small-held-bad'), { 'offer-1': false, 'offer-2': false });

      for (const [given, announced] of [[5000, 4096], [3000, 4096]]) {
        const id = `small-${given}-${announced}`;
        const bad = await s.engine.write({ container: 'objects', id, source: { size: announced, open: () => bufferSource(randomBytes(given)).open() } });
        assert.equal(bad.status, 'KO');
        assert.match(bad.message!, given > announced ? /more than the 4096 bytes announced/ : /the source gave 3000 bytes, 4096 announced/);
        assert.ok(bad.copies.every((c) => c.status === 'KO' && c.attempts === 0));
        assert.deepEqual(await s.engine.exists('default', 'objects', id), { 'offer-1': false, 'offer-2': false });
      }
    });

    test('an offer failing mid-write every time → retried up to its limit, then KO naming it, other copies reported', async () => {
      s.faulty.faults('offer-2').failAfterBytes = 50_000;
      const data = randomBytes(200_000);
      const result = await s.engine.write({ container: 'objects', id: 'retry-ko', source: bufferSource(data) });
      assert.equal(result.status, 'KO');
      assert.match(result.message!, /no verified copy on offer-2/);
      const [o1, o2] = result.copies;
      assert.deepEqual([o1.offerId, o1.status, o1.digest], ['offer-1', 'OK', sha256(data)]);
      assert.deepEqual([o2.offerId, o2.status, o2.attempts], ['offer-2', 'KO', 3]);
      assert.match(o2.message!, /failed after 50000 bytes/);
      assert.equal(s.faulty.putAttempts('offer-2'), 3);
      const record = await s.engine.objectRecord('objects', 'retry-ko');
      assert.equal(record?.status, 'KO');
      const copies = await s.cdb.db.selectFrom('storage_copy').select('offer_id').where('object_id', '=', 'retry-ko').execute();
      assert.deepEqual(copies.map((c) => c.offer_id), ['offer-1']);
    });

    test('an offer lying about the digest is caught: KO for it, and its copy is not recorded', async () => {
      s.faulty.faults('offer-2').wrongDigest = true;
      const data = randomBytes(5000);
      const result = await s.engine.write({ container: 'objects', id: 'liar', source: bufferSource(data) });
      assert.equal(result.status, 'KO');
      const o2 = result.copies.find((c) => c.offerId === 'offer-2')!;
      assert.equal(o2.status, 'KO');
      assert.match(o2.message!, /DIGEST_MISMATCH: the offer reported digest/);
      assert.equal(result.copies.find((c) => c.offerId === 'offer-1')!.status, 'OK');
    });

    test('an offer corrupting the bytes is caught by the digest it reports', async () => {
      s.faulty.faults('offer-2').corrupt = true;
      const data = randomBytes(5000);
      const result = await s.engine.write({ container: 'objects', id: 'corrupt', source: bufferSource(data) });
      assert.equal(result.status, 'KO');
      assert.match(result.copies[1].message!, /DIGEST_MISMATCH/);
      s.faulty.reset();
      assert.equal((await s.engine.exists('default', 'objects', 'corrupt'))['offer-2'], false, 'the bad copy was removed');
    });

    test('digest computed in the hashing thread: fs offers adopt it, a corrupting offer is still caught', async () => {
      const threaded = await openTestStorage(database.name, { storage: { hashThreadMinBytes: 0 } } as never);
      try {
        const data = randomBytes(300_000);
        const ok = await threaded.engine.write({ container: 'objects', id: 'threaded', source: bufferSource(data, 50_000) });
        assert.equal(ok.status, 'OK');
        assert.equal(ok.digest, sha256(data));
        assert.deepEqual(ok.copies.map((c) => c.digest), [sha256(data), sha256(data)]);
        // The kept digest is the engine's and is right: recomputed from the file, it agrees.
        assert.equal(await threaded.engine.runtime('offer-1').run('digest', 0, (c) => c.digest('objects', 'threaded', { algorithm: 'sha512', noCache: true })), sha512(data));
        threaded.faulty.faults('offer-2').corrupt = true;
        const bad = await threaded.engine.write({ container: 'objects', id: 'threaded-corrupt', source: bufferSource(data, 50_000) });
        assert.equal(bad.status, 'KO');
        assert.match(bad.copies[1].message!, /DIGEST_MISMATCH/);
      } finally {
        await threaded.close();
      }
    });

    test('a slow offer sets the pace without holding the whole object in memory', async () => {
      s.faulty.faults('offer-2').slowMs = 2;
      const data = randomBytes(2 * 1024 * 1024);
      const result = await s.engine.write({ container: 'objects', id: 'slow', source: bufferSource(data) });
      assert.equal(result.status, 'OK', result.message ?? '');
    });

    test('an expected digest that the bytes do not have fails the write and leaves no copy', async () => {
      const data = randomBytes(3000);
      const result = await s.engine.write({ container: 'objects', id: 'expected', source: bufferSource(data), expectedDigest: sha256(Buffer.from('other')) });
      assert.equal(result.status, 'KO');
      assert.match(result.message!, /differs from the expected/);
      assert.deepEqual(await s.engine.exists('default', 'objects', 'expected'), { 'offer-1': false, 'offer-2': false });
    });

    test('read: rank order, fallback to the next offer, digest checked while streaming, ranges', async () => {
      const data = randomBytes(300_000);
      await s.engine.write({ container: 'objects', id: 'r-1', source: bufferSource(data) });
      const first = await s.engine.read({ container: 'objects', id: 'r-1', verifyDigest: true });
      assert.equal(first.offerId, 'offer-1');
      assert.ok((await readAll(first.body)).equals(data));
      const range = await s.engine.read({ container: 'objects', id: 'r-1', range: { start: 1000, end: 1999 } });
      assert.equal(range.size, 1000);
      assert.ok((await readAll(range.body)).equals(data.subarray(1000, 2000)));
      // Remove the copy on offer-1 behind the engine's back: the read falls back to offer-2.
      const conn = await s.engine.runtime('offer-1').driver.connect(s.engine.runtime('offer-1').offer);
      await conn.remove('objects', 'r-1');
      await conn.close();
      const fallback = await s.engine.read({ container: 'objects', id: 'r-1', verifyDigest: true });
      assert.equal(fallback.offerId, 'offer-2');
      assert.ok((await readAll(fallback.body)).equals(data));
      await assert.rejects(s.engine.read({ container: 'objects', id: 'nope' }), /could not be read from any offer/);
    });

    test('read with verifyDigest fails the stream when the copy rotted', async () => {
      const data = randomBytes(100_000);
      await s.engine.write({ container: 'objects', id: 'rot', source: bufferSource(data), strategyId: 'single' });
      const conn = await s.engine.runtime('offer-1').driver.connect(s.engine.runtime('offer-1').offer);
      await conn.remove('objects', 'rot');
      const bad = Buffer.from(data);
      bad[500] ^= 1;
      await conn.put({ container: 'objects', id: 'rot', body: Readable.from([bad]), size: bad.length, digestAlgorithm: 'sha512' });
      await conn.close();
      const got = await s.engine.read({ strategyId: 'single', container: 'objects', id: 'rot', verifyDigest: true });
      await assert.rejects(readAll(got.body), /DIGEST|differs from the recorded/);
    });

    test('exists, remove (records go too), list, write log and diff of two offers', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(2000);
      await s.engine.write({ container: 'misc', id: 'a', source: bufferSource(a) });
      await s.engine.write({ container: 'misc', id: 'b', source: bufferSource(b) });
      await s.engine.write({ container: 'misc', id: 'c', source: bufferSource(Buffer.from('c')), strategyId: 'single' });
      assert.deepEqual(await s.engine.exists('default', 'misc', 'a'), { 'offer-1': true, 'offer-2': true });
      const listed = [];
      for await (const e of s.engine.list('default', 'misc')) listed.push([e.id, e.size]);
      assert.deepEqual(listed.sort(), [['a', 1000], ['b', 2000], ['c', 1]]);
      const diff = await s.engine.diff('offer-1', 'offer-2', 'misc');
      assert.deepEqual([diff.onlyInA, diff.onlyInB, diff.different], [['c'], [], []]);
      const removed = await s.engine.remove('default', 'misc', 'a');
      assert.deepEqual(removed.map((r) => [r.offerId, r.removed]), [['offer-1', true], ['offer-2', true]]);
      assert.equal(await s.engine.objectRecord('misc', 'a'), undefined);
      const log = [];
      for await (const e of s.engine.writeLog('offer-2')) if (e.container === 'misc') log.push([e.id, e.action]);
      assert.deepEqual(log, [['a', 'write'], ['b', 'write'], ['a', 'delete']]);
      const status = await s.engine.offersStatus();
      assert.deepEqual(status.map((o) => [o.id, o.driver, o.available]), [['offer-1', 'fs', true], ['offer-2', 'faulty', true]]);
      assert.ok(status[0].objects! > status[1].objects!, 'offer-1 holds the objects of strategy single too');
    });

    test('concurrent writes share record transactions and each gets its own result', async () => {
      const items = Array.from({ length: 40 }, (_, i) => ({ id: `many-${i}`, data: randomBytes(4096) }));
      const results = await Promise.all(items.map((it) => s.engine.write({ container: 'many', id: it.id, source: bufferSource(it.data) })));
      assert.ok(results.every((r) => r.status === 'OK'));
      const rows = await s.cdb.db.selectFrom('storage_object').select(['id', 'digest']).where('container', '=', 'many').execute();
      assert.equal(rows.length, 40);
      const byId = new Map(rows.map((r) => [r.id, r.digest]));
      for (const it of items) assert.equal(byId.get(it.id), sha256(it.data));
    });

    test('an unknown strategy is refused with its name', async () => {
      await assert.rejects(s.engine.check('nope', 1), /unknown strategy "nope"/);
    });
  });
}
