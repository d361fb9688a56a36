/**
 * goup's rules (seed 002) and every refusal: tokens, spaces, ownership, limits, expiry, and the
 * staging layout with its modes on disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startGateway, type GatewayTestPlatform } from './helpers.ts';
import { tempDir } from '../helpers/tmp.ts';

const HS_SECRET = 'a-shared-secret-of-at-least-32-characters!';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const exp = () => Math.floor(Date.now() / 1000) + 600;

describe('goup: authentication and refusals', () => {
  let p: GatewayTestPlatform;
  const keys = tempDir();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pubFile = join(keys.path, 'rsa.pem');
  writeFileSync(pubFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));

  before(async () => {
    p = await startGateway('sqlite', {
      auth: { hs256Secret: HS_SECRET, publicKeyFiles: [pubFile] },
      gateway: { maxMetadataSize: 64, spaceQuota: 100, quotas: { big: 1000 } },
    } as any);
  });
  after(async () => {
    await p.close();
    keys.cleanup();
  });

  const post = (headers: Record<string, string>, length = '5') =>
    fetch(p.files, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': length, ...headers } });
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
  const spaces = () => readdirSync(p.staging).sort();

  test('no token: 401 with a JSON error', async () => {
    const r = await post({});
    assert.equal(r.status, 401);
    const body = await r.json();
    assert.equal(body.code, 'TOKEN_MISSING');
    assert.ok(body.message);
  });

  test('a malformed Authorization header or a non-JWT: 401', async () => {
    assert.equal((await post({ Authorization: 'Basic abc' })).status, 401);
    assert.equal((await post(bearer('not.a.jwt'))).status, 401);
  });

  test('alg none is refused', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ 'goup-path': 'alice', exp: exp() })}.`;
    assert.equal((await post(bearer(token))).status, 401);
  });

  test('a token signed with another key is refused', async () => {
    const other = generateKeyPairSync('ed25519');
    const token = await new SignJWT({ 'goup-path': 'alice' }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime(exp()).sign(other.privateKey);
    assert.equal((await post(bearer(token))).status, 401);
  });

  test('an altered payload is refused', async () => {
    const [h, , s] = (await p.token({ space: 'alice' })).split('.');
    const forged = `${h}.${b64url({ 'goup-path': 'bob', sub: 'bob', exp: exp() })}.${s}`;
    assert.equal((await post(bearer(forged))).status, 401);
  });

  test('an expired token is refused (TOKEN_EXPIRED), and exp is required', async () => {
    const secret = new TextEncoder().encode(HS_SECRET);
    const expired = await new SignJWT({ 'goup-path': 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(secret);
    const r = await post(bearer(expired));
    assert.equal(r.status, 401);
    assert.equal((await r.json()).code, 'TOKEN_EXPIRED');
    const noExp = await new SignJWT({ 'goup-path': 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    assert.equal((await post(bearer(noExp))).status, 401);
  });

  test('HS256 with the configured secret and RS256 with the configured public key are accepted', async () => {
    const hs = await new SignJWT({ 'goup-path': 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp()).sign(new TextEncoder().encode(HS_SECRET));
    assert.equal((await post(bearer(hs))).status, 201);
    const rs = await new SignJWT({ 'goup-path': 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(exp()).sign(rsa.privateKey);
    assert.equal((await post(bearer(rs))).status, 201);
  });

  test('a valid token without a space cannot create: 403', async () => {
    const r = await post(bearer(await p.token({ admin: true })));
    assert.equal(r.status, 403);
    assert.equal((await r.json()).code, 'SPACE_REQUIRED');
  });

  test('a space that is not a plain safe name is refused and nothing is created', async () => {
    const before = spaces();
    const secret = new TextEncoder().encode(HS_SECRET);
    for (const space of ['..', '../etc', 'a/b', 'bad\u0001name', 'tusd', 'public', '.', '']) {
      const token = await new SignJWT({ 'goup-path': space }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp()).sign(secret);
      const r = await post({ ...bearer(token), 'Upload-Metadata': `private ${b64('true')}` }, '0');
      assert.ok(r.status === 401 || r.status === 403, `${JSON.stringify(space)} → ${r.status}`);
    }
    assert.deepEqual(spaces(), before);
  });

  test('ownership: another space gets 404 on HEAD, PATCH and DELETE; an admin may do all', async () => {
    const alice = bearer(await p.token({ space: 'alice' }));
    const bob = { ...bearer(await p.token({ space: 'bob' })), 'Tus-Resumable': '1.0.0' };
    const admin = { ...bearer(await p.token({ admin: true })), 'Tus-Resumable': '1.0.0' };
    const url = (await post(alice, '10')).headers.get('location')!;
    const patchH = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' };
    assert.equal((await fetch(url, { method: 'HEAD', headers: bob })).status, 404);
    assert.equal((await fetch(url, { method: 'PATCH', headers: { ...bob, ...patchH }, body: 'xxxxx' })).status, 404);
    assert.equal((await fetch(url, { method: 'DELETE', headers: bob })).status, 404);
    assert.equal((await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', ...alice } })).headers.get('upload-offset'), '0', "bob changed nothing");
    assert.equal((await fetch(url, { method: 'HEAD', headers: admin })).status, 200);
    assert.equal((await fetch(url, { method: 'PATCH', headers: { ...admin, ...patchH }, body: 'hello' })).status, 204);
    assert.equal((await fetch(url, { method: 'DELETE', headers: admin })).status, 204);
  });

  test('metadata over maxMetadataSize: 400 METADATA_TOO_LARGE', async () => {
    const r = await post({ ...bearer(await p.token({ space: 'alice' })), 'Upload-Metadata': `filename ${b64('x'.repeat(100))}` });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).code, 'METADATA_TOO_LARGE');
  });

  test('per-space quota: 403 QUOTA_EXCEEDED, with per-space overrides, also for deferred lengths', async () => {
    const carol = bearer(await p.token({ space: 'carol' }));
    assert.equal((await post(carol, '60')).status, 201);
    const r = await post(carol, '50');
    assert.equal(r.status, 403);
    assert.equal((await r.json()).code, 'QUOTA_EXCEEDED');
    assert.equal((await post(bearer(await p.token({ space: 'big' })), '500')).status, 201, 'the override applies');
    const deferred = await fetch(p.files, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Defer-Length': '1', ...carol } });
    assert.equal(deferred.status, 201);
    const patch = await fetch(deferred.headers.get('location')!, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Upload-Length': '80', ...carol },
      body: 'x'.repeat(10),
    });
    assert.equal(patch.status, 403);
    assert.equal((await patch.json()).code, 'QUOTA_EXCEEDED');
  });
});

describe('goup: expiry of unfinished uploads', () => {
  let p: GatewayTestPlatform;
  before(async () => {
    p = await startGateway('sqlite', { gateway: { expireAfter: 200 } } as any);
  });
  after(() => p.close());

  test('an expired upload answers 410, and the cleaner removes its files', async () => {
    const h = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${await p.token({ space: 'alice' })}` };
    const r = await fetch(p.files, { method: 'POST', headers: { ...h, 'Upload-Length': '10' } });
    const url = r.headers.get('location')!;
    const id = url.split('/').pop()!;
    const done = await fetch(p.files, { method: 'POST', headers: { ...h, 'Upload-Length': '2', 'Content-Type': 'application/offset+octet-stream' }, body: 'ok' });
    assert.equal(done.headers.get('upload-offset'), '2');
    const part = await fetch(p.files, { method: 'POST', headers: { ...h, 'Upload-Length': '2', 'Upload-Concat': 'partial', 'Content-Type': 'application/offset+octet-stream' }, body: 'pp' });
    const partId = part.headers.get('location')!.split('/').pop()!;
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await fetch(url, { method: 'HEAD', headers: h })).status, 410);
    const patch = await fetch(url, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: 'x' });
    assert.equal(patch.status, 410);
    assert.ok(existsSync(join(p.staging, 'tusd', `${id}.bin`)));
    const service = p.ctx.services.get('gateway') as { expireDue(): Promise<number> };
    assert.equal(await service.expireDue(), 2, 'the unfinished upload and the old completed part');
    assert.ok(!existsSync(join(p.staging, 'tusd', `${id}.bin`)));
    assert.ok(!existsSync(join(p.staging, 'tusd', `${partId}.bin`)));
    assert.ok(!existsSync(join(p.staging, 'tusd', `${id}.info`)));
    assert.equal((await fetch(url, { method: 'HEAD', headers: h })).status, 410);
    assert.equal((await fetch(done.headers.get('location')!, { method: 'HEAD', headers: h })).status, 200, 'complete uploads never expire');
  });
});

describe('goup: staging layout and modes on disk (seed 002)', () => {
  const isRoot = process.getuid?.() === 0;

  test('four files by two users: tusd/, public/, user1/, user2/ with links, modes and .info', async () => {
    const p = await startGateway('sqlite', {
      gateway: isRoot ? { owners: { user1: { user: 1001, group: 2001 }, user2: { user: 1002, group: 2001 } }, publicGroup: 100 } : {},
    } as any);
    try {
      const upload = async (space: string, name: string, isPrivate: boolean) => {
        const h = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${await p.token({ space })}` };
        const meta = `filename ${b64(name)}${isPrivate ? `,private ${b64('true')}` : ''}`;
        const r = await fetch(p.files, { method: 'POST', headers: { ...h, 'Upload-Length': String(name.length), 'Upload-Metadata': meta, 'Content-Type': 'application/offset+octet-stream' }, body: name });
        assert.equal(r.status, 201);
        return r.headers.get('location')!.split('/').pop()!;
      };
      const f1 = await upload('user1', 'file1', false);
      const f2 = await upload('user1', 'file2', true);
      const f3 = await upload('user2', 'file3', false);
      const f4 = await upload('user2', 'file4', true);
      const list = (d: string) => readdirSync(join(p.staging, d)).sort();
      const files = (...ids: string[]) => ids.flatMap((id) => [`${id}.bin`, `${id}.info`]).sort();
      assert.deepEqual(readdirSync(p.staging).sort(), ['public', 'tusd', 'user1', 'user2']);
      assert.deepEqual(list('tusd'), files(f1, f2, f3, f4));
      assert.deepEqual(list('public'), files(f1, f3));
      assert.deepEqual(list('user1'), files(f2));
      assert.deepEqual(list('user2'), files(f4));
      for (const d of ['tusd', 'public', 'user1', 'user2']) assert.equal(statSync(join(p.staging, d)).mode & 0o7777, 0o770, d);
      for (const [dir, id] of [['public', f1], ['user1', f2], ['public', f3], ['user2', f4]]) {
        for (const ext of ['bin', 'info']) {
          const linked = statSync(join(p.staging, dir, `${id}.${ext}`));
          const staged = statSync(join(p.staging, 'tusd', `${id}.${ext}`));
          assert.equal(linked.mode & 0o7777, 0o660);
          assert.equal(linked.ino, staged.ino, 'a hard link, not a copy');
        }
      }
      const info = JSON.parse(readFileSync(join(p.staging, 'user1', `${f2}.info`), 'utf8'));
      assert.equal(info.id, f2);
      assert.equal(info.size, 5);
      assert.equal(info.offset, 5);
      assert.equal(info.space, 'user1');
      assert.equal(info.private, true);
      assert.deepEqual(info.metadata, { filename: 'file2', private: 'true' });
      assert.ok(info.createdAt && info.updatedAt && info.completedAt);
      assert.deepEqual(info.digest, { algorithm: 'sha256', value: createHash('sha256').update('file2').digest('hex') });
      if (isRoot) {
        const own = (dir: string, id: string) => {
          const s = statSync(join(p.staging, dir, `${id}.bin`));
          return `${s.uid}:${s.gid}`;
        };
        assert.equal(own('public', f1), '1001:100', 'public files: owner and the public group');
        assert.equal(own('user1', f2), '1001:2001', 'private files: owner and its group');
        assert.equal(own('user2', f4), '1002:2001');
        const d = statSync(join(p.staging, 'user1'));
        assert.equal(`${d.uid}:${d.gid}`, '1001:2001');
      }
    } finally {
      await p.close();
    }
  });

  test('modes, digest algorithm and staging folder are configurable', async () => {
    const staging = tempDir();
    const p = await startGateway('sqlite', { gateway: { dirMode: '0750', fileMode: '0640', digestAlgorithm: 'sha512', stagingDir: join(staging.path, 'area') } } as any);
    try {
      const h = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${await p.token({ space: 'alice' })}` };
      const r = await fetch(p.files, { method: 'POST', headers: { ...h, 'Upload-Length': '3', 'Content-Type': 'application/offset+octet-stream' }, body: 'abc' });
      const id = r.headers.get('location')!.split('/').pop()!;
      const root = join(staging.path, 'area');
      assert.equal(statSync(join(root, 'public')).mode & 0o7777, 0o750);
      assert.equal(statSync(join(root, 'public', `${id}.bin`)).mode & 0o7777, 0o640);
      const info = JSON.parse(readFileSync(join(root, 'public', `${id}.info`), 'utf8'));
      assert.deepEqual(info.digest, { algorithm: 'sha512', value: createHash('sha512').update('abc').digest('hex') });
    } finally {
      await p.close();
      staging.cleanup();
    }
  });
});
