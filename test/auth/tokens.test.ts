import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, UnsecuredJWT } from 'jose';
import { parseConfig } from '../../src/config/index.ts';
import { loadOrCreateInstanceKey, signInstanceToken, TokenVerifier, AuthError, isSafeSpaceName } from '../../src/auth/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const exp = () => Math.floor(Date.now() / 1000) + 600;

async function setup() {
  const dir = tempDir();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwksEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPem = join(dir.path, 'rsa.pub.pem');
  const ecPem = join(dir.path, 'ec.pub.pem');
  const jwksFile = join(dir.path, 'jwks.json');
  writeFileSync(rsaPem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(ecPem, ec.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(jwksEc.publicKey)), kid: 'k1', alg: 'ES256' }] }));
  const config = parseConfig({ dataDir: dir.path, auth: { hs256Secret: SECRET, publicKeyFiles: [rsaPem, ecPem], jwksFile } });
  const instanceKey = loadOrCreateInstanceKey(config.dataDir);
  const verifier = await TokenVerifier.create(config.auth, instanceKey);
  return { dir, config, instanceKey, verifier, rsa, ec, jwksEc };
}

const refused = (code: string) => (e: unknown) => e instanceof AuthError && e.code === code;

test('accepts the instance key, HS256, RS256, ES256 and JWKS tokens, and reads space and admin', async () => {
  const s = await setup();
  try {
    const own = await signInstanceToken(s.instanceKey, s.config.auth, { space: 'alice', ttlSeconds: 60 });
    assert.equal((await s.verifier.verifyHeader(`Bearer ${own}`)).space, 'alice');
    const admin = await signInstanceToken(s.instanceKey, s.config.auth, { admin: true, ttlSeconds: 60 });
    assert.equal((await s.verifier.verify(admin)).admin, true);
    const hs = await new SignJWT({ 'goup-path': 'bob' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp()).sign(Buffer.from(SECRET));
    assert.equal((await s.verifier.verify(hs)).space, 'bob');
    const rs = await new SignJWT({ 'goup-path': 'carol' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(exp()).sign(s.rsa.privateKey);
    assert.equal((await s.verifier.verify(rs)).space, 'carol');
    const es = await new SignJWT({ 'goup-path': 'dave' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(exp()).sign(s.ec.privateKey);
    assert.equal((await s.verifier.verify(es)).space, 'dave');
    const jw = await new SignJWT({ 'goup-path': 'erin' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime(exp()).sign(s.jwksEc.privateKey);
    assert.equal((await s.verifier.verify(jw)).space, 'erin');
  } finally {
    s.dir.cleanup();
  }
});

test('refuses alg none, a wrong key, an altered payload, no exp, an expired token and unsafe spaces', async () => {
  const s = await setup();
  try {
    const none = new UnsecuredJWT({ 'goup-path': 'alice' }).setExpirationTime(exp()).encode();
    await assert.rejects(s.verifier.verify(none), refused('TOKEN_INVALID'));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrong = await new SignJWT({ 'goup-path': 'x' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(exp()).sign(other.privateKey);
    await assert.rejects(s.verifier.verify(wrong), refused('TOKEN_INVALID'));
    const good = await signInstanceToken(s.instanceKey, s.config.auth, { space: 'alice', ttlSeconds: 60 });
    const [h, , sig] = good.split('.');
    const forged = Buffer.from(JSON.stringify({ 'goup-path': 'mallory', exp: exp() })).toString('base64url');
    await assert.rejects(s.verifier.verify(`${h}.${forged}.${sig}`), refused('TOKEN_INVALID'));
    const noExp = await new SignJWT({ 'goup-path': 'bob' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    await assert.rejects(s.verifier.verify(noExp), refused('TOKEN_INVALID'));
    const old = await new SignJWT({ 'goup-path': 'bob' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(Buffer.from(SECRET));
    await assert.rejects(s.verifier.verify(old), refused('TOKEN_EXPIRED'));
    for (const bad of ['..', '../etc', 'a/b', 'tusd', 'public', 'x\u0001', '']) {
      const t = await new SignJWT({ 'goup-path': bad }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp()).sign(Buffer.from(SECRET));
      await assert.rejects(s.verifier.verify(t), refused('SPACE_INVALID'), `space ${JSON.stringify(bad)}`);
    }
    await assert.rejects(s.verifier.verifyHeader(undefined), refused('TOKEN_MISSING'));
    await assert.rejects(s.verifier.verifyHeader('Basic abc'), refused('TOKEN_INVALID'));
    await assert.rejects(s.verifier.verify('not-a-jwt'), refused('TOKEN_INVALID'));
  } finally {
    s.dir.cleanup();
  }
});

test('space names', () => {
  for (const ok of ['alice', 'org-1', 'a.b_c']) assert.equal(isSafeSpaceName(ok), true, ok);
  for (const bad of ['.', '..', 'a/b', 'a\\b', ' x', 'tusd', 'public', 'x'.repeat(65), 'é']) assert.equal(isSafeSpaceName(bad), false, bad);
});

test('the instance key is created once, private, and reused', () => {
  const dir = tempDir();
  try {
    const a = loadOrCreateInstanceKey(dir.path);
    const b = loadOrCreateInstanceKey(dir.path);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.deepEqual(a.publicKey.export({ format: 'jwk' }), b.publicKey.export({ format: 'jwk' }));
  } finally {
    dir.cleanup();
  }
});
