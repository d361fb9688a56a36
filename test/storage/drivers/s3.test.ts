import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { StorageError, type Connection } from '../../../src/storage/contract.ts';
import { driver } from '../../../src/storage/drivers/s3/index.ts';
import { removeS3Bucket, runSuffix, S3_SKIP_REASON, s3Env, s3Offer } from '../../helpers/swift.ts';
import { runDriverContractSuite } from '../contract-suite.ts';

const env = s3Env();
const MiB = 2 ** 20;

// The shared contract, with a big object above partSize (multipart path) and a quota (so that
// capacity() has numbers to report, as capabilities.capacity promises).
runDriverContractSuite(
  's3 on Swift',
  async () => {
    const bucket = `coffre-ct-${runSuffix()}`;
    return {
      driver,
      offer: s3Offer(env!, { bucket, prefix: 'contract/', partSize: '5 MiB', quotaBytes: '1 TiB' }),
      cleanup: () => removeS3Bucket(env!, bucket),
    };
  },
  { skip: env ? false : S3_SKIP_REASON, bigObjectBytes: 6 * MiB + 17 },
);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('s3 driver on the real Swift S3 API', { skip: env ? false : S3_SKIP_REASON }, () => {
  const bucket = `coffre-s3-${runSuffix()}`;
  let conn: Connection;

  before(async () => {
    conn = await driver.connect(s3Offer(env!, { bucket, prefix: 'offer1/', partSize: '5 MiB', queueSize: 2 }));
  });
  after(async () => {
    await conn?.close();
    await removeS3Bucket(env!, bucket);
  });

  test('multipart put of a 12 MiB object: digest computed while streaming, kept in a sidecar, ranges across parts', async () => {
    const data = randomBytes(12 * MiB);
    const result = await conn.put({ container: 'objects', id: 'big', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    assert.deepEqual(result, { size: data.length, digest: sha256(data), alreadyExisted: false });
    assert.equal(await conn.digest('objects', 'big', { algorithm: 'sha256' }), sha256(data));
    assert.equal(await conn.digest('objects', 'big', { algorithm: 'sha256', noCache: true }), sha256(data));
    const whole = await conn.get('objects', 'big');
    assert.equal(whole.size, data.length);
    assert.equal(whole.digest, sha256(data));
    assert.ok((await readAll(whole.body)).equals(data));
    const part = await conn.get('objects', 'big', { start: 5 * MiB - 10, end: 5 * MiB + 9 });
    assert.equal(part.size, data.length);
    assert.ok((await readAll(part.body)).equals(data.subarray(5 * MiB - 10, 5 * MiB + 10)));
    // Replaying the same content is a success, other content of the same size a conflict.
    const again = await conn.put({ container: 'objects', id: 'big', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    assert.equal(again.alreadyExisted, true);
    const other = Buffer.from(data);
    other[7 * MiB] ^= 1;
    await assert.rejects(
      conn.put({ container: 'objects', id: 'big', body: Readable.from(other), size: other.length, digestAlgorithm: 'sha256' }),
      (e: StorageError) => e.code === 'CONFLICT' && !e.retryable && /other content/.test(e.message),
    );
    // The sidecar is not part of the container's listing, and goes with the object.
    const ids = [];
    for await (const entry of conn.list('objects')) ids.push(entry);
    assert.deepEqual(ids, [{ id: 'big', size: data.length }]);
    assert.equal(await conn.remove('objects', 'big'), true);
    assert.equal(await conn.exists('objects', 'big'), false);
  });

  test('a multipart object whose sidecar was lost: digest recomputed, a replayed put restores the sidecar', async () => {
    const data = randomBytes(6 * MiB);
    await conn.put({ container: 'objects', id: 'orphan', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha512' });
    const raw = rawClient();
    const s3 = await import('@aws-sdk/client-s3');
    await raw.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: 'offer1/.digests/objects/orphan' }));
    const expected = createHash('sha512').update(data).digest('hex');
    assert.equal(await conn.digest('objects', 'orphan', { algorithm: 'sha512' }), expected);
    const again = await conn.put({ container: 'objects', id: 'orphan', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha512' });
    assert.equal(again.alreadyExisted, true);
    const sidecar = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: 'offer1/.digests/objects/orphan' }));
    assert.equal(JSON.parse(await sidecar.Body!.transformToString()).digest, expected);
    raw.destroy();
    assert.equal(await conn.remove('objects', 'orphan'), true);
  });

  test('small objects carry their digest in x-amz-meta-digest-<alg>', async () => {
    const data = Buffer.from('hello s3');
    await conn.put({ container: 'objects', id: 'meta/one', body: Readable.from(data), size: data.length, digestAlgorithm: 'sha256' });
    const raw = rawClient();
    const res = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: 'offer1/objects/meta/one' }));
    await res.Body!.transformToString();
    raw.destroy();
    assert.equal(res.Metadata?.['digest-sha256'], sha256(data));
    assert.equal(await conn.remove('objects', 'meta/one'), true);
  });

  test('capacity unknown without a quota; with quotaBytes, usable = quota - bytes stored under the prefix', async () => {
    assert.deepEqual(await conn.capacity(), { usableBytes: null, totalBytes: null });
    const quoted = await driver.connect(s3Offer(env!, { bucket, prefix: 'quota/', quotaBytes: 1000 }));
    try {
      assert.deepEqual(await quoted.capacity(), { usableBytes: 1000, totalBytes: 1000 });
      await quoted.put({ container: 'c', id: 'x', body: Readable.from(Buffer.alloc(300)), size: 300, digestAlgorithm: 'sha256' });
      assert.deepEqual(await quoted.capacity(), { usableBytes: 700, totalBytes: 1000 });
      await assert.rejects(
        quoted.put({ container: 'c', id: 'y', body: Readable.from(Buffer.alloc(800)), size: 800, digestAlgorithm: 'sha256' }),
        (e: StorageError) => e.code === 'FULL' && /800 bytes needed, 700 usable/.test(e.message),
      );
      await quoted.remove('c', 'x');
      assert.deepEqual(await quoted.capacity(), { usableBytes: 1000, totalBytes: 1000 });
    } finally {
      await quoted.close();
    }
  });

  test('a body of another size than announced is refused, nothing is left behind', async () => {
    await assert.rejects(
      conn.put({ container: 'objects', id: 'short', body: Readable.from(Buffer.alloc(10)), size: 11, digestAlgorithm: 'sha256' }),
      (e: StorageError) => e.code === 'SIZE_MISMATCH',
    );
    await assert.rejects(
      conn.put({ container: 'objects', id: 'long', body: Readable.from(randomBytes(6 * MiB)), size: 5 * MiB + 1, digestAlgorithm: 'sha256' }),
      (e: StorageError) => e.code === 'SIZE_MISMATCH',
    );
    assert.equal(await conn.exists('objects', 'short'), false);
    assert.equal(await conn.exists('objects', 'long'), false);
  });

  test('wrong credentials: connect fails, not retryable, with a clear message; isAvailable says false', async () => {
    const offer = s3Offer(env!, { bucket, secretAccessKey: 'wrong-secret' });
    await assert.rejects(driver.connect(offer), (e: StorageError) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.retryable, false);
      assert.match(e.message, /access denied, check the offer's credentials/);
      return true;
    });
    assert.equal(await driver.isAvailable(offer), false);
    assert.equal(await driver.isAvailable(s3Offer(env!, { bucket })), true);
  });

  test('a service that does not answer: unavailable, retryable', async () => {
    const offer = s3Offer(env!, { bucket, endpoint: 'http://127.0.0.1:9' });
    assert.equal(await driver.isAvailable(offer), false);
    await assert.rejects(driver.connect(offer), (e: StorageError) => e.retryable === true && e.code === 'UNAVAILABLE');
  });

  function rawClient(): S3Client {
    return new S3Client({
      endpoint: env!.endpoint,
      region: env!.region,
      forcePathStyle: true,
      credentials: { accessKeyId: env!.accessKeyId, secretAccessKey: env!.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }
});
