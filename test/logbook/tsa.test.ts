import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sealJournals, verifyJournals } from '../../src/logbook/index.ts';
import { timeStampRequest, timeStampToken } from '../../src/logbook/tsa.ts';
import { tempDir } from '../helpers/tmp.ts';
import { fixture, sampleIngest } from './fixture.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

/**
 * A real RFC 3161 time-stamping authority: OpenSSL's `openssl ts -reply`, with its own key and a
 * certificate marked for time-stamping, behind a small HTTP endpoint (as TSAs are reached).
 */
function startOpensslTsa(dir: string): Promise<{ url: string; server: Server; verify(token: Buffer, digestHex: string): string }> {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tsa.key', '-out', 'tsa.crt', '-days', '2', '-subj', '/CN=Coffre test TSA', '-addext', 'extendedKeyUsage=critical,timeStamping');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(
    join(dir, 'tsa.cnf'),
    ['[ tsa ]', 'default_tsa = tsa1', '[ tsa1 ]', `serial = ${dir}/serial`, 'crypto_device = builtin', `signer_cert = ${dir}/tsa.crt`, `signer_key = ${dir}/tsa.key`, 'signer_digest = sha256', 'default_policy = 1.2.3.4.1', 'digests = sha256, sha512', 'accuracy = secs:1', 'ess_cert_id_alg = sha256', ''].join('\n'),
  );
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      writeFileSync(join(dir, 'q.tsq'), Buffer.concat(chunks));
      try {
        run('ts', '-reply', '-config', 'tsa.cnf', '-queryfile', 'q.tsq', '-out', 'r.tsr');
        res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(readFileSync(join(dir, 'r.tsr')));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}/tsa`,
        server,
        verify: (token, digestHex) => {
          writeFileSync(join(dir, 'token.der'), token);
          return execFileSync('openssl', ['ts', '-verify', '-digest', digestHex, '-token_in', '-in', 'token.der', '-CAfile', 'tsa.crt', '-untrusted', 'tsa.crt'], { cwd: dir, stdio: 'pipe' }).toString();
        },
      });
    }),
  );
}

describe('RFC 3161 time-stamps of seals', { skip: hasOpenssl ? undefined : 'openssl not installed: the TSA test needs it' }, () => {
  const dir = tempDir('coffre-tsa-');
  let tsa: Awaited<ReturnType<typeof startOpensslTsa>>;
  before(async () => {
    tsa = await startOpensslTsa(dir.path);
  });
  after(() => {
    tsa?.server.close();
    dir.cleanup();
  });

  test('a refused request is reported with its status', () => {
    // PKIStatus 2 (rejection), no token.
    assert.throws(() => timeStampToken(Buffer.from('30053003020102', 'hex')), /refused the request \(PKIStatus 2\)/);
    assert.equal(timeStampRequest(Buffer.alloc(64, 7))[0], 0x30);
  });

  test('a seal gets a token from the TSA that OpenSSL verifies, and verify checks it stamps the seal root', async () => {
    const f = await fixture('sqlite', { logbook: { tsaUrl: tsa.url } });
    try {
      await sampleIngest(f.logbook);
      const seal = await sealJournals(f.logbook, f.keys);
      assert.ok(seal);
      const row = await f.cdb.db.selectFrom('logbook_seal').selectAll().where('n', '=', seal.n).executeTakeFirstOrThrow();
      assert.ok(row.tsa_token);
      assert.match(tsa.verify(Buffer.from(row.tsa_token, 'base64'), row.seal_root), /Verification: OK/);
      const report = await verifyJournals(f.cdb, { storage: f.storage, strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 100 });
      assert.deepEqual(report.problems, []);
    } finally {
      await f.close();
    }
  });
});
