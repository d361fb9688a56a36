/**
 * The driver contract suite: every storage driver runs it (in the manner of tus-node-server's
 * shared store tests and rclone's fstests), then adds its own edge cases in its own test file.
 *
 *   runDriverContractSuite(name, makeOffer, options?)
 *
 * - `name`: shown in the test titles (e.g. 'fs', 's3 on Swift').
 * - `makeOffer`: called once before the suite; returns the driver under test, an offer definition
 *   it can connect to (fresh: an empty folder, a new bucket or account prefix), and an optional
 *   `cleanup` run after the suite (remove the folder, bucket…).
 * - `options.skip`: a reason to skip the whole suite (e.g. the service's env vars are absent),
 *   or false/undefined to run it.
 * - `options.bigObjectBytes`: size of the multi-chunk object (default 3 MiB + 17 bytes); pass a
 *   size above the driver's multipart/segment threshold to exercise that path.
 *
 * Optional abilities are tested only when the driver declares them in `capabilities` (ranges,
 * capacity, writeLog). Every object this suite writes goes to containers named `ct-<random>-…`.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { StorageError, type Connection, type Driver, type OfferDefinition, type WriteLogEntry } from '../../src/storage/contract.ts';
import { contractFault } from '../../src/storage/registry.ts';

export interface ContractSubject {
  driver: Driver;
  offer: OfferDefinition;
  cleanup?: () => Promise<void>;
}

export interface ContractSuiteOptions {
  skip?: string | false;
  bigObjectBytes?: number;
}

const sha = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A body in several chunks, so that drivers see a stream and not one buffer. */
function body(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

/** A body that fails after `bytes`. */
function failingBody(data: Buffer, bytes: number): Readable {
  return Readable.from(
    (async function* () {
      yield data.subarray(0, bytes);
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('source broke');
    })(),
  );
}

const isStorageError = (code?: string) => (e: unknown) => e instanceof StorageError && (code === undefined || e.code === code);

export function runDriverContractSuite(name: string, makeOffer: () => Promise<ContractSubject>, options: ContractSuiteOptions = {}): void {
  describe(`driver contract: ${name}`, { skip: options.skip || false }, () => {
    let subject: ContractSubject;
    let conn: Connection;
    const run = randomBytes(4).toString('hex');
    const container = (label: string) => `ct-${run}-${label}`;
    const put = (c: string, id: string, data: Buffer, alg: 'sha512' | 'sha256' = 'sha512') =>
      conn.put({ container: c, id, body: body(data), size: data.length, digestAlgorithm: alg });

    before(async () => {
      subject = await makeOffer();
      conn = await subject.driver.connect(structuredClone(subject.offer));
    });
    after(async () => {
      await conn?.close();
      await subject?.cleanup?.();
    });

    test('the driver meets the contract and its offer is available', async () => {
      assert.equal(contractFault(subject.driver), undefined);
      assert.equal(await subject.driver.isAvailable(subject.offer), true);
      assert.equal(conn.offer.id, subject.offer.id);
    });

    test('round trips of an empty, a small and a multi-chunk object, with the digest the offer computed', async () => {
      const c = container('rt');
      const big = randomBytes(options.bigObjectBytes ?? 3 * 1024 * 1024 + 17);
      for (const [id, data] of [['empty', Buffer.alloc(0)], ['small', Buffer.from('hello, archive')], ['big', big]] as const) {
        const result = await put(c, id, data);
        assert.deepEqual(result, { size: data.length, digest: sha('sha512', data), alreadyExisted: false }, id);
        assert.equal(await conn.exists(c, id), true);
        const got = await conn.get(c, id);
        assert.equal(got.size, data.length);
        if (got.digest !== undefined) assert.equal(got.digest, sha('sha512', data));
        assert.ok((await readAll(got.body)).equals(data), `${id} reads back the same bytes`);
      }
    });

    test('digest: the kept value and the one recomputed from the bytes agree, for the algorithm asked', async () => {
      const c = container('dg');
      const data = randomBytes(100_000);
      const r = await put(c, 'x', data, 'sha256');
      assert.equal(r.digest, sha('sha256', data));
      assert.equal(await conn.digest(c, 'x', { algorithm: 'sha256' }), sha('sha256', data));
      assert.equal(await conn.digest(c, 'x', { algorithm: 'sha256', noCache: true }), sha('sha256', data));
      assert.equal(await conn.digest(c, 'x', { algorithm: 'sha512', noCache: true }), sha('sha512', data));
      assert.equal(await conn.digest(c, 'absent', { algorithm: 'sha256' }), null);
    });

    test('the same content again is an idempotent success; other content is a CONFLICT and changes nothing', async () => {
      const c = container('idem');
      const data = randomBytes(50_000);
      await put(c, 'obj', data);
      assert.deepEqual(await put(c, 'obj', data), { size: data.length, digest: sha('sha512', data), alreadyExisted: true });
      const other = Buffer.from(data);
      other[123] ^= 1;
      await assert.rejects(put(c, 'obj', other), (e: unknown) => isStorageError('CONFLICT')(e) && !(e as StorageError).retryable);
      assert.ok((await readAll((await conn.get(c, 'obj')).body)).equals(data));
    });

    test('concurrent writes of one id with the same content both succeed, one of them first', async () => {
      const c = container('race');
      const data = randomBytes(200_000);
      const results = await Promise.all([put(c, 'same', data), put(c, 'same', data)]);
      assert.equal(results.filter((r) => !r.alreadyExisted).length >= 1, true);
      assert.ok(results.every((r) => r.digest === sha('sha512', data) && r.size === data.length));
    });

    test('a body of another size than announced is refused and leaves no object', async () => {
      const c = container('size');
      const data = randomBytes(10_000);
      await assert.rejects(conn.put({ container: c, id: 'short', body: body(data), size: data.length + 1, digestAlgorithm: 'sha512' }), isStorageError());
      await assert.rejects(conn.put({ container: c, id: 'long', body: body(data), size: data.length - 1, digestAlgorithm: 'sha512' }), isStorageError());
      assert.equal(await conn.exists(c, 'short'), false);
      assert.equal(await conn.exists(c, 'long'), false);
    });

    test('a body that breaks mid-way fails the put and leaves no object', async () => {
      const c = container('broken');
      const data = randomBytes(300_000);
      await assert.rejects(conn.put({ container: c, id: 'b', body: failingBody(data, 100_000), size: data.length, digestAlgorithm: 'sha512' }));
      assert.equal(await conn.exists(c, 'b'), false);
      // and the id can be written properly afterwards
      assert.equal((await put(c, 'b', data)).alreadyExisted, false);
    });

    test('absent objects: NOT_FOUND on get, false on exists and remove', async () => {
      const c = container('absent');
      await assert.rejects(conn.get(c, 'nothing'), isStorageError('NOT_FOUND'));
      assert.equal(await conn.exists(c, 'nothing'), false);
      assert.equal(await conn.remove(c, 'nothing'), false);
    });

    test('ids and containers that try to escape are refused with BAD_REQUEST', async () => {
      for (const id of ['../escape', '', '/abs', 'a/../../b', '..']) {
        await assert.rejects(put(container('esc'), id, Buffer.from('x')), (e: unknown) => isStorageError('BAD_REQUEST')(e) && !(e as StorageError).retryable, JSON.stringify(id));
      }
      for (const c of ['../up', '.hidden', '', 'a/b']) {
        await assert.rejects(put(c, 'x', Buffer.from('x')), isStorageError('BAD_REQUEST'), JSON.stringify(c));
      }
    });

    test('remove takes the object away', async () => {
      const c = container('rm');
      await put(c, 'gone', Buffer.from('bye'));
      assert.equal(await conn.remove(c, 'gone'), true);
      assert.equal(await conn.exists(c, 'gone'), false);
      await assert.rejects(conn.get(c, 'gone'), isStorageError('NOT_FOUND'));
    });

    test('list yields every object of a container once, with its size, whatever the page size', async () => {
      const c = container('ls');
      const expected = new Map<string, number>();
      for (let i = 0; i < 7; i++) {
        const data = randomBytes(100 + i);
        await put(c, `obj-${i}`, data);
        expected.set(`obj-${i}`, data.length);
      }
      await put(container('ls-other'), 'not-mine', Buffer.from('x'));
      for (const pageSize of [undefined, 2]) {
        const seen = new Map<string, number>();
        for await (const e of conn.list(c, pageSize ? { pageSize } : undefined)) {
          assert.equal(seen.has(e.id), false, `${e.id} listed twice`);
          seen.set(e.id, e.size);
        }
        assert.deepEqual(new Map([...seen].sort()), new Map([...expected].sort()));
      }
      const none = [];
      for await (const e of conn.list(container('ls-empty'))) none.push(e);
      assert.deepEqual(none, []);
    });

    test('ranges: a slice from start to end (inclusive) or to the end', { skip: false }, async (t) => {
      if (!subject.driver.capabilities.ranges) return t.skip('driver declares no ranges');
      const c = container('rg');
      const data = randomBytes(1_000_000);
      await put(c, 'r', data);
      const a = await conn.get(c, 'r', { start: 10, end: 99 });
      assert.equal(a.size, data.length);
      assert.ok((await readAll(a.body)).equals(data.subarray(10, 100)));
      const b = await conn.get(c, 'r', { start: 999_990 });
      assert.ok((await readAll(b.body)).equals(data.subarray(999_990)));
    });

    test('capacity: numbers when the driver can tell, null otherwise', async () => {
      const cap = await conn.capacity();
      if (subject.driver.capabilities.capacity) {
        assert.equal(typeof cap.usableBytes, 'number');
        assert.ok(cap.usableBytes! >= 0);
      } else {
        assert.equal(cap.usableBytes, null);
      }
    });

    test('the write log lists writes and deletes in sequence order', async (t) => {
      if (!subject.driver.capabilities.writeLog) return t.skip('driver declares no write log');
      const c = container('log');
      let last = 0;
      for await (const e of conn.writeLog({})) last = Math.max(last, e.sequence);
      await put(c, 'w1', Buffer.from('one'));
      await put(c, 'w2', Buffer.from('two'));
      await conn.remove(c, 'w1');
      const entries: WriteLogEntry[] = [];
      for await (const e of conn.writeLog({ fromSequence: last + 1 })) entries.push(e);
      const mine = entries.filter((e) => e.container === c);
      assert.deepEqual(mine.map((e) => [e.id, e.action]), [['w1', 'write'], ['w2', 'write'], ['w1', 'delete']]);
      for (let i = 1; i < entries.length; i++) assert.ok(entries[i].sequence > entries[i - 1].sequence);
      const limited = [];
      for await (const e of conn.writeLog({ fromSequence: last + 1, limit: 2 })) limited.push(e);
      assert.equal(limited.length, 2);
    });

    test('a connection keeps the parameters it was opened with', async () => {
      const def = structuredClone(subject.offer);
      const bound = await subject.driver.connect(def);
      try {
        def.parameters = { broken: true };
        const c = container('bound');
        const r = await bound.put({ container: c, id: 'p', body: body(Buffer.from('kept')), size: 4, digestAlgorithm: 'sha512' });
        assert.equal(r.size, 4);
        assert.equal(await conn.exists(c, 'p'), true, 'the object is where the original parameters say');
      } finally {
        await bound.close();
      }
    });
  });
}
