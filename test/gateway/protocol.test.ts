/**
 * Compliance with tus 1.0.0 (protocol.md), one test per MUST / SHOULD, over raw HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { startGateway, type GatewayTestPlatform } from './helpers.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const digest = (alg: string, data: string | Buffer) => createHash(alg).update(data).digest('base64');

describe('tus 1.0.0 compliance', () => {
  let p: GatewayTestPlatform;
  let auth: Record<string, string>;
  let tusH: Record<string, string>;

  before(async () => {
    p = await startGateway('sqlite', { gateway: { maxUploadSize: 1000 } } as any);
    auth = { Authorization: `Bearer ${await p.token({ space: 'alice' })}` };
    tusH = { ...auth, 'Tus-Resumable': '1.0.0' };
  });
  after(() => p.close());

  const create = async (headers: Record<string, string> = { 'Upload-Length': '11' }) => {
    const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, ...headers } });
    assert.equal(r.status, 201, await r.text());
    return r.headers.get('location')!;
  };
  const patch = (url: string, offset: number, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'PATCH', headers: { ...tusH, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...headers }, body: body as BodyInit });
  const head = (url: string) => fetch(url, { method: 'HEAD', headers: tusH });

  describe('core', () => {
    test('OPTIONS: 204 with Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, no token needed', async () => {
      const r = await fetch(p.files, { method: 'OPTIONS' });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('tus-version'), '1.0.0');
      assert.equal(r.headers.get('tus-resumable'), '1.0.0');
      assert.equal(r.headers.get('tus-max-size'), '1000');
      const ext = r.headers.get('tus-extension')!.split(',');
      for (const e of ['creation', 'creation-with-upload', 'creation-defer-length', 'expiration', 'checksum', 'checksum-trailer', 'termination', 'concatenation', 'concatenation-unfinished']) {
        assert.ok(ext.includes(e), e);
      }
      const algs = r.headers.get('tus-checksum-algorithm')!.split(',');
      for (const a of ['sha1', 'sha256', 'sha512', 'md5']) assert.ok(algs.includes(a), a);
    });

    test('OPTIONS ignores Tus-Resumable, even an unsupported one', async () => {
      const r = await fetch(p.files, { method: 'OPTIONS', headers: { 'Tus-Resumable': '0.1.0' } });
      assert.equal(r.status, 204);
    });

    test('412 with Tus-Version when Tus-Resumable is missing or unsupported; the request is not processed', async () => {
      for (const headers of [auth, { ...auth, 'Tus-Resumable': '0.2.2' }]) {
        const r = await fetch(p.files, { method: 'POST', headers: { ...headers, 'Upload-Length': '5' } });
        assert.equal(r.status, 412);
        assert.equal(r.headers.get('tus-version'), '1.0.0');
      }
      const url = await create();
      const r = await fetch(url, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: 'hello' });
      assert.equal(r.status, 412);
      assert.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing was written');
    });

    test('every response carries Tus-Resumable', async () => {
      const url = await create();
      for (const r of [await head(url), await patch(url, 0, 'hello'), await fetch(url, { method: 'GET', headers: tusH })]) {
        assert.equal(r.headers.get('tus-resumable'), '1.0.0');
      }
    });

    test('HEAD: Upload-Offset (even 0), Upload-Length, Cache-Control: no-store, Upload-Metadata as given', async () => {
      const meta = `filename ${b64('a.txt')},empty`;
      const url = await create({ 'Upload-Length': '11', 'Upload-Metadata': meta });
      const r = await head(url);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('upload-offset'), '0');
      assert.equal(r.headers.get('upload-length'), '11');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(r.headers.get('upload-metadata'), meta);
    });

    test('HEAD of an unknown upload: 404 without Upload-Offset', async () => {
      const r = await head(`${p.files}0123456789abcdef0123456789abcdef`);
      assert.equal(r.status, 404);
      assert.equal(r.headers.get('upload-offset'), null);
    });

    test('PATCH: 204 with the new offset; chunks append', async () => {
      const url = await create();
      let r = await patch(url, 0, 'hello');
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('upload-offset'), '5');
      r = await patch(url, 5, ' world');
      assert.equal(r.headers.get('upload-offset'), '11');
      const h = await head(url);
      assert.equal(h.headers.get('upload-offset'), '11');
    });

    test('PATCH with another Content-Type: 415', async () => {
      const url = await create();
      const r = await patch(url, 0, 'hello', { 'Content-Type': 'application/octet-stream' });
      assert.equal(r.status, 415);
    });

    test('PATCH at the wrong offset: 409 carrying the current Upload-Offset, upload unchanged', async () => {
      const url = await create();
      await patch(url, 0, 'hello');
      const r = await patch(url, 3, 'xx');
      assert.equal(r.status, 409);
      assert.equal(r.headers.get('upload-offset'), '5');
      assert.equal((await head(url)).headers.get('upload-offset'), '5');
    });

    test('PATCH of an unknown upload: 404', async () => {
      const r = await patch(`${p.files}0123456789abcdef0123456789abcdef`, 0, 'x');
      assert.equal(r.status, 404);
    });

    test('PATCH without Upload-Offset: 400', async () => {
      const url = await create();
      const r = await fetch(url, { method: 'PATCH', headers: { ...tusH, 'Content-Type': 'application/offset+octet-stream' }, body: 'x' });
      assert.equal(r.status, 400);
    });

    test('PATCH past the declared length: 413, nothing written', async () => {
      const url = await create({ 'Upload-Length': '3' });
      const r = await patch(url, 0, 'hello');
      assert.equal(r.status, 413);
      assert.equal((await head(url)).headers.get('upload-offset'), '0');
    });

    test('X-HTTP-Method-Override is taken as the method', async () => {
      const url = await create();
      let r = await fetch(url, {
        method: 'POST',
        headers: { ...tusH, 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
        body: 'hello',
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('upload-offset'), '5');
      r = await fetch(url, { method: 'POST', headers: { ...tusH, 'X-HTTP-Method-Override': 'DELETE' } });
      assert.equal(r.status, 204);
      assert.equal((await head(url)).status, 404);
    });

    test('GET never returns stored bytes: 405', async () => {
      const url = await create();
      await patch(url, 0, 'hello world');
      const r = await fetch(url, { headers: tusH });
      assert.equal(r.status, 405);
      assert.ok(!(await r.text()).includes('hello'));
      assert.equal((await fetch(p.files, { headers: tusH })).status, 405);
    });

    test('CORS: the preflight is answered without a token and the tus headers are exposed', async () => {
      const r = await fetch(p.files, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,tus-resumable,upload-length' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.match(r.headers.get('access-control-allow-methods')!, /PATCH/);
      assert.match(r.headers.get('access-control-allow-headers')!, /Upload-Offset/);
      const url = await create();
      const h = await fetch(url, { method: 'HEAD', headers: { ...tusH, Origin: 'https://app.example' } });
      const exposed = h.headers.get('access-control-expose-headers')!;
      for (const name of ['Upload-Offset', 'Location', 'Upload-Length', 'Tus-Resumable', 'Upload-Expires', 'Upload-Metadata']) assert.match(exposed, new RegExp(name));
    });
  });

  test('gateway metrics are on /metrics', async () => {
    const text = await (await fetch(`${p.url}/metrics`)).text();
    for (const m of ['coffre_gateway_bytes_received_total', 'coffre_gateway_uploads_completed_total', 'coffre_gateway_checksum_mismatches_total']) assert.match(text, new RegExp(m));
  });

  describe('creation', () => {
    test('201 with Location; the new upload has offset 0', async () => {
      const url = await create({ 'Upload-Length': '5' });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/files\/[0-9a-f]{32}$/);
    });

    test('neither Upload-Length nor Upload-Defer-Length: 400', async () => {
      const r = await fetch(p.files, { method: 'POST', headers: tusH });
      assert.equal(r.status, 400);
    });

    test('Upload-Length over Tus-Max-Size: 413', async () => {
      const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': '1001' } });
      assert.equal(r.status, 413);
    });

    test('a malformed Upload-Length: 400', async () => {
      for (const v of ['-1', 'abc', '1.5']) {
        const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': v } });
        assert.equal(r.status, 400, v);
      }
    });

    test('malformed Upload-Metadata: 400 (empty key, duplicate key, not Base64)', async () => {
      for (const m of [',a YQ==', 'a YQ==,a Yg==', 'a not-base64!', 'a b c']) {
        const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': '1', 'Upload-Metadata': m } });
        assert.equal(r.status, 400, m);
      }
    });
  });

  describe('creation-with-upload', () => {
    test('the POST body is stored; 201 with Upload-Offset', async () => {
      const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': '11', 'Content-Type': 'application/offset+octet-stream' }, body: 'hello' });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('upload-offset'), '5');
      assert.equal((await head(r.headers.get('location')!)).headers.get('upload-offset'), '5');
    });

    test('a POST body with another Content-Type: 415', async () => {
      const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': '11', 'Content-Type': 'text/plain' }, body: 'hello' });
      assert.equal(r.status, 415);
    });
  });

  describe('creation-defer-length', () => {
    test('HEAD says Upload-Defer-Length: 1 until the length comes with a PATCH', async () => {
      const url = await create({ 'Upload-Defer-Length': '1' });
      let h = await head(url);
      assert.equal(h.headers.get('upload-defer-length'), '1');
      assert.equal(h.headers.get('upload-length'), null);
      await patch(url, 0, 'hello');
      const r = await patch(url, 5, ' world', { 'Upload-Length': '11' });
      assert.equal(r.status, 204);
      h = await head(url);
      assert.equal(h.headers.get('upload-length'), '11');
      assert.equal(h.headers.get('upload-defer-length'), null);
      assert.equal(h.headers.get('upload-offset'), '11');
    });

    test('Upload-Defer-Length other than 1: 400; both headers: 400', async () => {
      assert.equal((await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Defer-Length': '2' } })).status, 400);
      assert.equal((await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Defer-Length': '1', 'Upload-Length': '3' } })).status, 400);
    });

    test('once set, the length cannot change: 400', async () => {
      const url = await create({ 'Upload-Length': '11' });
      const r = await patch(url, 0, 'hello', { 'Upload-Length': '12' });
      assert.equal(r.status, 400);
    });
  });

  describe('expiration', () => {
    test('Upload-Expires (RFC 7231 date) on POST, PATCH and HEAD of an unfinished upload', async () => {
      const r = await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Length': '11' } });
      const rfc7231 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
      assert.match(r.headers.get('upload-expires')!, rfc7231);
      const url = r.headers.get('location')!;
      assert.match((await patch(url, 0, 'hello')).headers.get('upload-expires')!, rfc7231);
      assert.match((await head(url)).headers.get('upload-expires')!, rfc7231);
      const done = await patch(url, 5, ' world');
      assert.equal(done.headers.get('upload-expires'), null, 'a complete upload does not expire');
    });
  });

  describe('checksum', () => {
    for (const alg of ['sha1', 'sha256', 'sha512', 'md5']) {
      test(`${alg}: a matching chunk is stored`, async () => {
        const url = await create();
        const r = await patch(url, 0, 'hello', { 'Upload-Checksum': `${alg} ${digest(alg, 'hello')}` });
        assert.equal(r.status, 204);
        assert.equal(r.headers.get('upload-offset'), '5');
      });
    }

    test('460 on mismatch: the chunk is discarded and the offset unchanged', async () => {
      const url = await create();
      await patch(url, 0, 'hello');
      const r = await patch(url, 5, ' world', { 'Upload-Checksum': `sha1 ${digest('sha1', ' WORLD')}` });
      assert.equal(r.status, 460);
      assert.equal((await head(url)).headers.get('upload-offset'), '5');
      const ok = await patch(url, 5, ' world', { 'Upload-Checksum': `sha1 ${digest('sha1', ' world')}` });
      assert.equal(ok.status, 204);
    });

    test('an unsupported algorithm: 400, nothing stored', async () => {
      const url = await create();
      const r = await patch(url, 0, 'hello', { 'Upload-Checksum': `crc32 ${b64('abcd')}` });
      assert.equal(r.status, 400);
      assert.equal((await head(url)).headers.get('upload-offset'), '0');
    });

    test('the whole-file digest stays right after a discarded chunk', async () => {
      const url = await create();
      await patch(url, 0, 'hello');
      await patch(url, 5, ' WORLD', { 'Upload-Checksum': `md5 ${digest('md5', ' world')}` });
      await patch(url, 5, ' world');
      const id = url.split('/').pop()!;
      const row = await p.ctx.cdb.db.selectFrom('gateway_upload').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.digest, createHash('sha256').update('hello world').digest('hex'));
    });
  });

  describe('checksum-trailer', () => {
    const chunked = (url: string, body: string, trailer: string) =>
      new Promise<{ status: number; offset: string | undefined }>((resolve, reject) => {
        const req = request(url, {
          method: 'PATCH',
          headers: { ...tusH, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', Trailer: 'Upload-Checksum' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode!, offset: res.headers['upload-offset'] as string | undefined });
        });
        req.on('error', reject);
        req.write(body);
        req.addTrailers({ 'Upload-Checksum': trailer });
        req.end();
      });

    test('a matching trailer: stored', async () => {
      const url = await create();
      const r = await chunked(url, 'hello', `sha256 ${digest('sha256', 'hello')}`);
      assert.equal(r.status, 204);
      assert.equal(r.offset, '5');
    });

    test('a mismatching trailer: 460, discarded', async () => {
      const url = await create();
      const r = await chunked(url, 'hello', `sha256 ${digest('sha256', 'HELLO')}`);
      assert.equal(r.status, 460);
      assert.equal((await head(url)).headers.get('upload-offset'), '0');
    });
  });

  describe('termination', () => {
    test('DELETE: 204, then 404 for every request on it', async () => {
      const url = await create();
      await patch(url, 0, 'hello');
      const r = await fetch(url, { method: 'DELETE', headers: tusH });
      assert.equal(r.status, 204);
      assert.equal((await head(url)).status, 404);
      assert.equal((await patch(url, 5, 'x')).status, 404);
      assert.equal((await fetch(url, { method: 'DELETE', headers: tusH })).status, 404);
    });

    test('a completed upload can be terminated too', async () => {
      const url = await create({ 'Upload-Length': '5' });
      await patch(url, 0, 'hello');
      assert.equal((await fetch(url, { method: 'DELETE', headers: tusH })).status, 204);
    });
  });

  describe('concatenation', () => {
    const partial = async (data: string) => {
      const url = await create({ 'Upload-Concat': 'partial', 'Upload-Length': String(data.length) });
      return url;
    };

    test('partials concatenated in order; HEAD of final has Upload-Concat and offset = length', async () => {
      const a = await partial('hello');
      const b = await partial(' world');
      await patch(a, 0, 'hello');
      await patch(b, 0, ' world');
      const relative = new URL(a).pathname;
      const concat = `final;${relative} ${b}`;
      const url = await create({ 'Upload-Concat': concat, 'Upload-Metadata': `filename ${b64('hw.txt')}` });
      const h = await head(url);
      assert.equal(h.headers.get('upload-concat'), concat);
      assert.equal(h.headers.get('upload-length'), '11');
      assert.equal(h.headers.get('upload-offset'), '11');
      assert.equal(h.headers.get('upload-metadata'), `filename ${b64('hw.txt')}`);
      const ph = await head(a);
      assert.equal(ph.headers.get('upload-concat'), 'partial');
      assert.equal(ph.headers.get('upload-offset'), '5');
    });

    test('PATCH against a final upload: 403, nothing modified', async () => {
      const a = await partial('abc');
      await patch(a, 0, 'abc');
      const url = await create({ 'Upload-Concat': `final;${a}` });
      const r = await patch(url, 3, 'x');
      assert.equal(r.status, 403);
      assert.equal((await head(a)).headers.get('upload-offset'), '3');
    });

    test('a final upload with Upload-Length: 400; with a non-partial part: 400; unknown part: 404', async () => {
      const a = await partial('abc');
      assert.equal((await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Concat': `final;${a}`, 'Upload-Length': '3' } })).status, 400);
      const plain = await create({ 'Upload-Length': '3' });
      assert.equal((await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Concat': `final;${plain}` } })).status, 400);
      assert.equal((await fetch(p.files, { method: 'POST', headers: { ...tusH, 'Upload-Concat': `final;${p.files}0123456789abcdef0123456789abcdef` } })).status, 404);
    });

    test('concatenation-unfinished: final created first, no Upload-Offset until the parts are done', async () => {
      const a = await partial('hello');
      const b = await create({ 'Upload-Concat': 'partial', 'Upload-Defer-Length': '1' });
      const url = await create({ 'Upload-Concat': `final;${a} ${b}` });
      let h = await head(url);
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('upload-offset'), null);
      assert.equal(h.headers.get('upload-length'), null, 'length unknown while a part defers it');
      await patch(a, 0, 'hello');
      await patch(b, 0, ' world', { 'Upload-Length': '6' });
      for (let i = 0; i < 100; i++) {
        h = await head(url);
        if (h.headers.get('upload-offset')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(h.headers.get('upload-offset'), '11');
      assert.equal(h.headers.get('upload-length'), '11');
    });
  });
});
