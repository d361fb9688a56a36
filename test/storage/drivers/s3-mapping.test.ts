import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OfferDefinition } from '../../../src/storage/contract.ts';
import { toStorageError } from '../../../src/storage/drivers/s3/errors.ts';
import { parseS3Parameters } from '../../../src/storage/drivers/s3/params.ts';
import { TEST_LIMITS } from '../../helpers/swift.ts';

// Errors shaped as @aws-sdk/client-s3 and node's sockets raise them.
const sdk = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} message`), { name, $metadata: { httpStatusCode: status }, ...extra });

test('s3 errors: 5xx, throttling, resets and timeouts are retryable; 4xx are not', () => {
  const cases: [unknown, string, boolean][] = [
    [sdk('InternalError', 500), 'IO', true],
    [sdk('ServiceUnavailable', 503), 'UNAVAILABLE', true],
    [sdk('SlowDown', 503), 'UNAVAILABLE', true],
    [sdk('ThrottlingException', 400), 'UNAVAILABLE', true],
    [sdk('TooManyRequests', 429), 'UNAVAILABLE', true],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'IO', true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'UNAVAILABLE', true],
    [sdk('TimeoutError'), 'TIMEOUT', true],
    [sdk('AbortError'), 'TIMEOUT', true],
    [sdk('InvalidAccessKeyId', 403), 'UNAVAILABLE', false],
    [sdk('SignatureDoesNotMatch', 403), 'UNAVAILABLE', false],
    [sdk('NoSuchKey', 404), 'NOT_FOUND', false],
    [sdk('NoSuchBucket', 404), 'UNAVAILABLE', false],
    [sdk('InvalidRange', 416), 'BAD_REQUEST', false],
    [sdk('EntityTooLarge', 400), 'FULL', false],
    [sdk('BadDigest', 400), 'DIGEST_MISMATCH', true],
    [sdk('InvalidArgument', 400), 'BAD_REQUEST', false],
  ];
  for (const [err, code, retryable] of cases) {
    const e = toStorageError(err, 'put objects/x', 'o1');
    assert.deepEqual([e.code, e.retryable, e.offerId], [code, retryable, 'o1'], (err as Error).name + ' ' + (err as Error).message);
    assert.match(e.message, /^offer o1: put objects\/x: /);
  }
});

test('s3 parameters: a bad offer is refused naming the field; credentials from env names', () => {
  const offer = (parameters: Record<string, unknown>): OfferDefinition => ({ id: 'o1', driver: 's3', parameters, limits: TEST_LIMITS });
  assert.throws(() => parseS3Parameters(offer({ bucket: 'bkt', partSize: '1 MiB', accessKeyId: 'a', secretAccessKey: 's' })), /offer o1: invalid s3 parameters: partSize: partSize must be at least 5 MiB/);
  assert.throws(() => parseS3Parameters(offer({ bucket: 'bkt', bukket: 'typo', accessKeyId: 'a', secretAccessKey: 's' })), /invalid s3 parameters: .*bukket/);
  assert.throws(() => parseS3Parameters(offer({ bucket: 'bkt', prefix: 'no-slash', accessKeyId: 'a', secretAccessKey: 's' })), /prefix must be empty or end with "\/"/);
  assert.throws(() => parseS3Parameters(offer({ bucket: 'bkt', accessKeyId: 'a', accessKeyIdEnv: 'NOPE_1', secretAccessKeyEnv: 'NOPE_2' })), /give both accessKeyId and secretAccessKey/);
  process.env.COFFRE_TEST_S3_KEY = 'k';
  process.env.COFFRE_TEST_S3_SECRET = 's';
  const p = parseS3Parameters(offer({ bucket: 'bkt', accessKeyIdEnv: 'COFFRE_TEST_S3_KEY', secretAccessKeyEnv: 'COFFRE_TEST_S3_SECRET', partSize: '16 MiB', quotaBytes: '2 GiB' }));
  assert.deepEqual([p.accessKeyId, p.secretAccessKey, p.partSize, p.quotaBytes], ['k', 's', 16 * 2 ** 20, 2 * 2 ** 30]);
});
