import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, ConfigError, parseBytes, parseDuration } from '../../src/config/index.ts';
import { tempDir } from '../helpers/tmp.ts';

test('defaults need no file', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.server.port, 8700);
  assert.equal(c.server.host, '127.0.0.1');
  assert.match(c.dataDir, /\/data$/);
  assert.equal(c.auth.spaceClaim, 'goup-path');
});

test('file, then environment, then flags', () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'coffre.yaml');
    writeFileSync(file, 'server:\n  port: 9001\n  host: 0.0.0.0\nauth:\n  spaceClaim: space\n');
    const c = loadConfig({ file, env: { COFFRE_SERVER_PORT: '9002', COFFRE_DATABASE_URL: 'postgres://db/x' }, overrides: { server: { host: '127.0.0.2' } } });
    assert.equal(c.server.port, 9002);
    assert.equal(c.server.host, '127.0.0.2');
    assert.equal(c.auth.spaceClaim, 'space');
    assert.equal(c.database.url, 'postgres://db/x');
  } finally {
    dir.cleanup();
  }
});

test('errors name the bad key', () => {
  assert.throws(() => loadConfig({ env: { COFFRE_SERVER_PORT: '"abc"' } }), (e: Error) => e instanceof ConfigError && /server\.port/.test(e.message));
  assert.throws(() => loadConfig({ env: { COFFRE_NO_SUCH_KEY: '1' } }), /COFFRE_NO_SUCH_KEY/);
  // Client and harness variables are not configuration and are left alone.
  assert.doesNotThrow(() => loadConfig({ env: { COFFRE_TOKEN: 'x', COFFRE_URL: 'http://h', COFFRE_TEST_PG_URL: 'p', COFFRE_BENCH_TMP: '/t' } }));
  assert.throws(() => loadConfig({ env: {}, overrides: { serverr: {} } }), /serverr|Unrecognized/);
  assert.throws(() => loadConfig({ file: '/nonexistent/coffre.yaml', env: {} }), /cannot read configuration file/);
});

test('sizes and durations with units', () => {
  assert.equal(parseBytes('64 MiB'), 64 * 2 ** 20);
  assert.equal(parseBytes('1GB'), 1e9);
  assert.equal(parseBytes('12 parsecs'), undefined);
  assert.equal(parseDuration('1h'), 3600_000);
  assert.equal(parseDuration('250ms'), 250);
});
