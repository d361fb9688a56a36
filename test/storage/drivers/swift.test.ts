import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { StorageError, type Connection } from '../../../src/storage/contract.ts';
import { driver, type SwiftConnection } from '../../../src/storage/drivers/swift/index.ts';
import { removeSwiftContainers, runSuffix, SWIFT_SKIP_REASON, swiftAdmin, swiftEnv, swiftOffer } from '../../helpers/swift.ts';
import { runDriverContractSuite } from '../contract-suite.ts';

const env = swiftEnv();
const MiB = 2 ** 20;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// The shared contract, with a big object above the SLO threshold. The account gets a quota for
// the run (removed afterwards) so that capacity() has numbers to report.
runDriverContractSuite(
  'swift',
  async () => {
    const prefix = `coffre-ct-${runSuffix()}-`;
    const admin = await swiftAdmin(env!);
    await (await admin.request('POST', '', { 'X-Account-Meta-Quota-Bytes': String(2 ** 40) })).arrayBuffer();
    return {
      driver,
      offer: swiftOffer(env!, { containerPrefix: prefix, largeObjectThreshold: '5 MiB', segmentSize: '5 MiB' }),
      cleanup: async () => {
        await (await admin.request('POST', '', { 'X-Remove-Account-Meta-Quota-Bytes': 'x' })).arrayBuffer();
        await removeSwiftContainers(env!, prefix);
      },
    };
  },
  { skip: env ? false : SWIFT_SKIP_REASON, bigObjectBytes: 6 * MiB + 17 },
);

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Revokes a tempauth token for real: tempauth keeps tokens in memcached under md5("AUTH_/token/<token>"). */
async function revokeTempauthToken(token: string): Promise<string> {
  const [host, port] = (process.env.SWIFT_MEMCACHED ?? '127.0.0.1:11311').split(':');
  const key = createHash('md5').update(`AUTH_/token/${token}`).digest('hex');
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), host, () => socket.write(`delete ${key}\r\n`));
    socket.once('data', (d) => {
      socket.end();
      resolve(d.toString().trim());
    });
    socket.once('error', reject);
  });
}

describe('swift driver on the real Swift', { skip: env ? false : SWIFT_SKIP_REASON }, () => {
  const prefix = `coffre-sw-${runSuffix()}-`;
  let conn: Connection;

  before(async () => {
    conn = await driver.connect(swiftOffer(env!, { containerPrefix: prefix, largeObjectThreshold: '5 MiB', segmentSize: '5 MiB' }));
  });
  after(async () => {
    await conn?.close();
    await removeSwiftContainers(env!, prefix);
  });

  test('segmented large object (SLO) above the threshold: segments, manifest with the digest, ranges across segments', async () => {
    const data = randomBytes(12 * MiB);
    const result = await conn.put({ container: 'objects', id: 'big/one', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    assert.deepEqual(result, { size: data.length, digest: sha256(data), alreadyExisted: false });
    const admin = await swiftAdmin(env!);
    const head = await admin.request('HEAD', `/${prefix}objects/big/one`);
    assert.equal(head.headers.get('x-static-large-object'), 'True');
    assert.equal(head.headers.get('x-object-meta-digest'), sha256(data));
    assert.equal(head.headers.get('x-object-meta-digest-algorithm'), 'sha256');
    const segments = (await (await admin.request('GET', `/${prefix}objects_segments?format=json`)).json()) as { name: string; bytes: number }[];
    assert.deepEqual(segments.map((s) => s.bytes), [5 * MiB, 5 * MiB, 2 * MiB]);
    assert.ok(segments.every((s) => s.name.startsWith('big/one/')));

    const whole = await conn.get('objects', 'big/one');
    assert.equal(whole.size, data.length);
    assert.equal(whole.digest, sha256(data));
    assert.ok((await readAll(whole.body)).equals(data));
    const part = await conn.get('objects', 'big/one', { start: 5 * MiB - 3, end: 10 * MiB + 3 });
    assert.equal(part.size, data.length);
    assert.ok((await readAll(part.body)).equals(data.subarray(5 * MiB - 3, 10 * MiB + 4)));
    assert.equal(await conn.digest('objects', 'big/one', { algorithm: 'sha256', noCache: true }), sha256(data));

    const listed = [];
    for await (const e of conn.list('objects')) listed.push(e);
    assert.deepEqual(listed, [{ id: 'big/one', size: data.length }]);

    const again = await conn.put({ container: 'objects', id: 'big/one', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    assert.equal(again.alreadyExisted, true);
    const other = Buffer.from(data);
    other[11 * MiB] ^= 0xff;
    await assert.rejects(
      conn.put({ container: 'objects', id: 'big/one', body: Readable.from(other), size: other.length, digestAlgorithm: 'sha256' }),
      (e: StorageError) => e.code === 'CONFLICT' && !e.retryable,
    );

    // Removing the manifest removes its segments.
    assert.equal(await conn.remove('objects', 'big/one'), true);
    assert.equal(await conn.exists('objects', 'big/one'), false);
    const left = (await admin.request('GET', `/${prefix}objects_segments?format=json`)).status;
    assert.ok(left === 204 || left === 200);
    if (left === 200) assert.deepEqual(await (await admin.request('GET', `/${prefix}objects_segments?format=json`)).json(), []);
  });

  test('a large body shorter than announced fails and leaves no segment behind', async () => {
    await assert.rejects(
      conn.put({ container: 'objects', id: 'short-big', body: Readable.from(randomBytes(7 * MiB)), size: 8 * MiB, digestAlgorithm: 'sha256' }),
      (e: StorageError) => e.code === 'SIZE_MISMATCH',
    );
    assert.equal(await conn.exists('objects', 'short-big'), false);
    const admin = await swiftAdmin(env!);
    const res = await admin.request('GET', `/${prefix}objects_segments?format=json&prefix=short-big/`);
    assert.deepEqual(res.status === 204 ? [] : await res.json(), []);
  });

  test('plain object: digest set by a metadata POST; an object left without it is recomputed and completed by a replayed put', async () => {
    const data = Buffer.from('no digest yet');
    const admin = await swiftAdmin(env!);
    await (await admin.request('PUT', `/${prefix}objects`)).arrayBuffer();
    const raw = await fetch(`${admin.storageUrl}/${prefix}objects/bare`, { method: 'PUT', headers: { 'X-Auth-Token': admin.token }, body: data });
    assert.equal(raw.status, 201);
    assert.equal(await conn.digest('objects', 'bare', { algorithm: 'sha256' }), sha256(data));
    const again = await conn.put({ container: 'objects', id: 'bare', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    assert.equal(again.alreadyExisted, true);
    const head = await admin.request('HEAD', `/${prefix}objects/bare`);
    assert.equal(head.headers.get('x-object-meta-digest'), sha256(data));
    assert.equal(await conn.remove('objects', 'bare'), true);
    assert.equal(await conn.remove('objects', 'bare'), false);
  });

  test('token revoked on the server: the driver gets a new one and the call succeeds', async () => {
    const c = (await driver.connect(swiftOffer(env!, { containerPrefix: prefix }))) as SwiftConnection;
    try {
      await c.put({ container: 'tokens', id: 'a', body: Readable.from(Buffer.from('a')), size: 1, digestAlgorithm: 'sha256' });
      assert.equal(c.authentications, 1);
      const { token } = await swiftAdmin(env!); // tempauth hands out the user's current token
      assert.equal(await revokeTempauthToken(token), 'DELETED');
      assert.equal(await c.exists('tokens', 'a'), true);
      assert.equal(c.authentications, 2);
      const second = (await swiftAdmin(env!)).token;
      assert.notEqual(second, token);
      // Revoked again right before a write: the put's first request renews it, the body goes through.
      assert.equal(await revokeTempauthToken(second), 'DELETED');
      const data = randomBytes(64 * 1024);
      assert.equal((await c.put({ container: 'tokens', id: 'b', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' })).digest, sha256(data));
      assert.equal(c.authentications, 3);
    } finally {
      await c.close();
    }
  });

  test('token renewed before it expires (margin longer than the token life)', async () => {
    const c = (await driver.connect(swiftOffer(env!, { containerPrefix: prefix, tokenRenewMargin: '2h' }))) as SwiftConnection;
    try {
      const before = c.authentications;
      await c.exists('tokens', 'a');
      await c.exists('tokens', 'a');
      assert.equal(c.authentications, before + 2);
    } finally {
      await c.close();
    }
  });

  test('capacity from the account quota headers when present, else unknown', async () => {
    const admin = await swiftAdmin(env!);
    const set = await admin.request('POST', '', { 'X-Account-Meta-Quota-Bytes': String(10 * 2 ** 30) });
    assert.equal(set.status, 204);
    try {
      const used = Number((await admin.request('HEAD', '')).headers.get('x-account-bytes-used'));
      assert.deepEqual(await conn.capacity(), { usableBytes: 10 * 2 ** 30 - used, totalBytes: 10 * 2 ** 30 });
    } finally {
      await (await admin.request('POST', '', { 'X-Remove-Account-Meta-Quota-Bytes': 'x' })).arrayBuffer();
    }
    assert.deepEqual(await conn.capacity(), { usableBytes: null, totalBytes: null });
  });

  test('wrong credentials: connect fails, not retryable, with a clear message; isAvailable says false', async () => {
    const offer = swiftOffer(env!, { key: 'wrong-key' });
    await assert.rejects(driver.connect(offer), (e: StorageError) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.retryable, false);
      assert.match(e.message, /authentication refused \(401\), check user and key/);
      return true;
    });
    assert.equal(await driver.isAvailable(offer), false);
    assert.equal(await driver.isAvailable(swiftOffer(env!, {})), true);
    const down = swiftOffer(env!, { authUrl: 'http://127.0.0.1:9/auth/v1.0' });
    assert.equal(await driver.isAvailable(down), false);
    await assert.rejects(driver.connect(down), (e: StorageError) => e.code === 'UNAVAILABLE' && e.retryable);
  });

  describe('Keystone v3', () => {
    // No Keystone here: a tiny stand-in speaks the v3 password protocol and hands out a real
    // tempauth token with a catalog pointing at the real Swift, so every storage call is real.
    let server: Server;
    let url = '';
    const requests: unknown[] = [];
    before(async () => {
      server = createServer(async (req, res) => {
        let body = '';
        for await (const c of req) body += c;
        if (req.method !== 'POST' || req.url !== '/v3/auth/tokens') {
          res.writeHead(404).end();
          return;
        }
        const auth = JSON.parse(body);
        requests.push(auth);
        if (auth.auth.identity.password.user.password !== 'secret') {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":401}}');
          return;
        }
        const { token, storageUrl } = await swiftAdmin(env!);
        res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': token }).end(
          JSON.stringify({
            token: {
              expires_at: new Date(Date.now() + 3600_000).toISOString(),
              catalog: [
                { type: 'identity', endpoints: [{ interface: 'public', region_id: 'RegionOne', url }] },
                {
                  type: 'object-store',
                  endpoints: [
                    { interface: 'internal', region_id: 'RegionOne', url: 'http://127.0.0.1:9/nowhere' },
                    { interface: 'public', region_id: 'RegionTwo', url: 'http://127.0.0.1:9/nowhere' },
                    { interface: 'public', region_id: 'RegionOne', url: storageUrl },
                  ],
                },
              ],
            },
          }),
        );
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address() as { port: number };
      url = `http://127.0.0.1:${address.port}/v3`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    test('password auth scoped to a project; endpoint from the catalog by interface and region', async () => {
      const offer = swiftOffer(env!, { authUrl: url, user: undefined, key: undefined, username: 'alice', password: 'secret', projectName: 'archive', region: 'RegionOne', containerPrefix: prefix });
      const c = await driver.connect(offer);
      try {
        await c.put({ container: 'keystone', id: 'k', body: Readable.from(Buffer.from('via keystone')), size: 12, digestAlgorithm: 'sha256' });
        assert.ok((await readAll((await c.get('keystone', 'k')).body)).equals(Buffer.from('via keystone')));
      } finally {
        await c.close();
      }
      assert.deepEqual((requests[0] as { auth: unknown }).auth, {
        identity: { methods: ['password'], password: { user: { name: 'alice', password: 'secret', domain: { name: 'Default' } } } },
        scope: { project: { name: 'archive', domain: { name: 'Default' } } },
      });
      await assert.rejects(
        driver.connect({ ...offer, parameters: { ...offer.parameters, password: 'wrong' } }),
        (e: StorageError) => !e.retryable && /authentication refused \(401\), check username, password/.test(e.message),
      );
    });
  });
});
