import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { OfferDefinition } from '../../../src/storage/contract.ts';
import { networkError, statusError } from '../../../src/storage/drivers/swift/errors.ts';
import type { HttpResponse } from '../../../src/storage/drivers/swift/http.ts';
import { parseSwiftParameters } from '../../../src/storage/drivers/swift/params.ts';
import { TEST_LIMITS } from '../../helpers/swift.ts';

const response = (status: number, body = '') => ({ status, headers: {}, body: Readable.from([Buffer.from(body)]) }) as unknown as HttpResponse;

test('swift errors: 5xx, 408/429/498, resets and timeouts are retryable; other 4xx are not', async () => {
  const cases: [number, string, string, boolean][] = [
    [500, '', 'IO', true],
    [503, '', 'UNAVAILABLE', true],
    [429, '', 'UNAVAILABLE', true],
    [498, '', 'UNAVAILABLE', true],
    [401, '<html><h1>Unauthorized</h1></html>', 'UNAVAILABLE', false],
    [403, '', 'UNAVAILABLE', false],
    [404, '', 'NOT_FOUND', false],
    [413, 'Upload exceeds quota.', 'FULL', false],
    [507, '', 'FULL', false],
    [416, '', 'BAD_REQUEST', false],
    [422, '', 'DIGEST_MISMATCH', true],
    [400, 'Invalid header', 'BAD_REQUEST', false],
  ];
  for (const [status, body, code, retryable] of cases) {
    const e = await statusError(response(status, body), 'put objects/x', 'o1');
    assert.deepEqual([e.code, e.retryable], [code, retryable], `${status}`);
    assert.match(e.message, new RegExp(`^offer o1: put objects/x: .*\\(${status}`));
  }
  const unauthorized = await statusError(response(401, '<html><h1>Unauthorized</h1>This server could not verify</html>'), 'x', 'o1');
  assert.match(unauthorized.message, /\(401 Unauthorized This server could not verify\)/);
  assert.deepEqual(
    [networkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'x', 'o1')].map((e) => [e.code, e.retryable]),
    [['IO', true]],
  );
  assert.equal(networkError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'x', 'o1').code, 'UNAVAILABLE');
});

test('swift parameters: auth version from the URL; each mode says what it lacks', () => {
  const offer = (parameters: Record<string, unknown>): OfferDefinition => ({ id: 'o1', driver: 'swift', parameters, limits: TEST_LIMITS });
  const v1 = parseSwiftParameters(offer({ authUrl: 'http://h/auth/v1.0', user: 'a:b', key: 'k', largeObjectThreshold: '1 GiB' }));
  assert.deepEqual([v1.authVersion, v1.largeObjectThreshold, v1.segmentSize], ['1', 2 ** 30, 128 * 2 ** 20]);
  const v3 = parseSwiftParameters(offer({ authUrl: 'https://keystone/v3', username: 'u', password: 'p', projectName: 'p' }));
  assert.equal(v3.authVersion, '3');
  assert.throws(() => parseSwiftParameters(offer({ authUrl: 'https://keystone/v3', username: 'u', password: 'p' })), /offer o1: invalid swift parameters: Keystone v3 needs projectName or projectId/);
  assert.throws(() => parseSwiftParameters(offer({ authUrl: 'https://keystone/v3', projectName: 'p', passwordEnv: 'COFFRE_NOPE' })), /Keystone v3 needs username \(or userId\) and password \(inline, or in COFFRE_NOPE\)/);
  assert.throws(() => parseSwiftParameters(offer({ authUrl: 'http://h/auth/v1.0', userEnv: 'COFFRE_NOPE_U', keyEnv: 'COFFRE_NOPE_K' })), /tempauth needs user and key \(inline, or in COFFRE_NOPE_U\/COFFRE_NOPE_K\)/);
  assert.throws(() => parseSwiftParameters(offer({ authUrl: 'http://h/auth/v1.0', user: 'a', key: 'k', segmentSize: '10 KiB' })), /segmentSize must be at least 1 MiB/);
});

test('swift http client: a server that stops answering, mid-request or mid-response, gives a retryable TIMEOUT', async () => {
  const { createServer } = await import('node:http');
  const { HttpClient } = await import('../../../src/storage/drivers/swift/http.ts');
  const server = createServer((req, res) => {
    if (req.url === '/half') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only a part');
    } // '/silent': never answers
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const http = new HttpClient(2, 1000, 300);
  try {
    await assert.rejects(http.send({ method: 'GET', url: `${base}/silent` }), (e: unknown) => {
      const se = networkError(e, 'get x', 'o1');
      return se.code === 'TIMEOUT' && se.retryable && /no answer within 300 ms/.test(se.message);
    });
    const res = await http.send({ method: 'GET', url: `${base}/half` });
    await assert.rejects(
      (async () => {
        for await (const _ of res.body);
      })(),
    );
  } finally {
    http.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
