import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/index.ts';
import { Workspaces, DEFAULT_UNPACK_LIMITS } from '../../src/workspace/index.ts';
import { DEFAULT_SIP_CONFIG } from '../../src/sip/index.ts';

test('workspace and sip settings have safe defaults and the workspace lives in the data folder', () => {
  const config = loadConfig({ env: {} });
  const ws = Workspaces.fromConfig(config);
  assert.equal(ws.root, join(config.dataDir, 'workspace'));
  assert.deepEqual(ws.limits, DEFAULT_UNPACK_LIMITS);
  assert.equal(ws.fsync, false);
  assert.equal(DEFAULT_UNPACK_LIMITS.maxEntries, 100_000);
  assert.equal(DEFAULT_UNPACK_LIMITS.maxTotalRatio, 100);
  assert.deepEqual(config.sip, DEFAULT_SIP_CONFIG);
});

test('limits are named settings, with units, from file, environment or flags', () => {
  const config = loadConfig({
    env: { COFFRE_WORKSPACE_UNPACK_MAX_ENTRIES: '500', COFFRE_SIP_MAX_MANIFEST_SIZE: '"16 MiB"' },
    overrides: { workspace: { root: '/srv/coffre/ws', fsync: true, unpack: { maxTotalSize: '1 GiB', maxEntryRatio: 50 } } },
  });
  const ws = Workspaces.fromConfig(config);
  assert.equal(ws.root, '/srv/coffre/ws');
  assert.equal(ws.fsync, true);
  assert.equal(ws.limits.maxEntries, 500);
  assert.equal(ws.limits.maxTotalSize, 2 ** 30);
  assert.equal(ws.limits.maxEntryRatio, 50);
  assert.equal(config.sip.maxManifestSize, 16 * 2 ** 20);
});

test('a bad limit is refused with its key', () => {
  assert.throws(() => loadConfig({ env: {}, overrides: { workspace: { unpack: { maxTotalSize: 'lots' } } } }), (e: unknown) => e instanceof ConfigError && /workspace\.unpack\.maxTotalSize/.test(e.message));
  assert.throws(() => loadConfig({ env: {}, overrides: { workspace: { unpack: { maxEntryz: 1 } } } }), ConfigError);
});
