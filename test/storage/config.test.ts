import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/index.ts';
import { resolveReferential } from '../../src/storage/config.ts';
import { DriverRegistry } from '../../src/storage/registry.ts';
import { tempDir } from '../helpers/tmp.ts';

const fsOffer = (id: string) => ({ id, driver: 'fs', parameters: { path: `offers/${id}` } });
const load = (storage: unknown) => parseConfig({ dataDir: '/tmp/coffre-config-test', storage });

test('no offers configured: the embedded default, strategy default over two fs offers in the data folder', () => {
  const config = load({});
  const ref = resolveReferential(config.storage, config.dataDir);
  assert.deepEqual([...ref.offers.values()].map((o) => [o.id, o.driver, o.parameters.path]), [
    ['offer-1', 'fs', '/tmp/coffre-config-test/offers/offer-1'],
    ['offer-2', 'fs', '/tmp/coffre-config-test/offers/offer-2'],
  ]);
  assert.deepEqual(ref.strategies.get('default')!.offers.map((o) => o.id), ['offer-1', 'offer-2']);
  assert.equal(ref.digestAlgorithm, 'sha256');
  assert.equal(ref.offers.get('offer-1')!.limits.maxAttempts, 3);
});

test('a configured referential: limits with units, ranks sorted, relative fs paths from the data folder', () => {
  const config = load({
    offers: [{ ...fsOffer('a'), limits: { timeout: '2m', minBytesPerSecond: '10 MiB', maxConnections: 4 } }, fsOffer('b')],
    strategies: [{ id: 'default', offers: [{ id: 'b', rank: 2 }, { id: 'a', rank: 1, referent: true }] }],
    digestAlgorithm: 'sha256',
  });
  const ref = resolveReferential(config.storage, config.dataDir);
  assert.deepEqual(ref.strategies.get('default')!.offers.map((o) => o.id), ['a', 'b']);
  const a = ref.offers.get('a')!;
  assert.deepEqual([a.limits.timeoutMs, a.limits.minBytesPerSecond, a.limits.maxConnections], [120_000, 10 * 2 ** 20, 4]);
  assert.equal(a.parameters.path, '/tmp/coffre-config-test/offers/a');
  assert.equal(ref.digestAlgorithm, 'sha256');
});

const refusals: [string, unknown, RegExp][] = [
  ['no default strategy', { offers: [fsOffer('a')], strategies: [{ id: 'other', offers: [{ id: 'a', rank: 1 }] }] }, /the strategy "default" is required/],
  ['unknown offer', { offers: [fsOffer('a')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }, { id: 'zz', rank: 2 }] }] }, /strategy "default" uses unknown offer "zz"/],
  ['duplicate offer', { offers: [fsOffer('a'), fsOffer('a')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }] }] }, /offer "a" is defined twice/],
  ['duplicate strategy', { offers: [fsOffer('a')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }] }, { id: 'default', offers: [{ id: 'a', rank: 1 }] }] }, /strategy "default" is defined twice/],
  ['same rank', { offers: [fsOffer('a'), fsOffer('b')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }, { id: 'b', rank: 1 }] }] }, /offers "a" and "b" have the same rank 1/],
  ['two referents', { offers: [fsOffer('a'), fsOffer('b')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1, referent: true }, { id: 'b', rank: 2, referent: true }] }] }, /2 referent offers \(a, b\); at most one/],
  ['offer listed twice', { offers: [fsOffer('a')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }, { id: 'a', rank: 2 }] }] }, /lists offer "a" twice/],
  ['no active offer', { offers: [fsOffer('a')], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1, active: false }] }] }, /strategy "default" has no active offer/],
  ['strategies without offers', { strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }] }] }, /no offers/],
  ['bad offer id', { offers: [fsOffer('../x')], strategies: [{ id: 'default', offers: [{ id: '../x', rank: 1 }] }] }, /storage\.offers\.0\.id/],
  ['bad unit', { offers: [{ ...fsOffer('a'), limits: { timeout: 'soon' } }], strategies: [{ id: 'default', offers: [{ id: 'a', rank: 1 }] }] }, /"soon" is not a duration/],
  ['built-in driver replaced', { drivers: { fs: './mine.ts' } }, /"fs" is a built-in driver/],
];
for (const [what, storage, message] of refusals) {
  test(`an invalid referential refuses to load and names the fault: ${what}`, () => {
    assert.throws(() => load(storage), message);
  });
}

test('external drivers: loaded at start-up from the configured module and checked against the contract', async () => {
  const dir = tempDir();
  try {
    const fsModule = new URL('../../src/storage/drivers/fs/index.ts', import.meta.url).href;
    writeFileSync(join(dir.path, 'good.mjs'), `import { driver as fs } from '${fsModule}';\nexport const driver = { ...fs, name: 'mine', version: '0.1.0' };\n`);
    writeFileSync(join(dir.path, 'no-connect.mjs'), `export const driver = { name: 'half', version: '1', capabilities: { ranges: false, capacity: false, cachedDigest: false, writeLog: false, watch: false }, isAvailable: async () => true };\n`);
    writeFileSync(join(dir.path, 'wrong-name.mjs'), `import { driver as fs } from '${fsModule}';\nexport const driver = { ...fs, name: 'other' };\n`);
    writeFileSync(join(dir.path, 'broken.mjs'), `throw new Error('boom at load');\n`);

    const good = new DriverRegistry({ mine: './good.mjs' }, dir.path);
    await good.load(['mine', 'fs']);
    assert.equal(good.get('mine').version, '0.1.0');

    await assert.rejects(new DriverRegistry({ half: './no-connect.mjs' }, dir.path).load([]), /driver "half" from module .*no-connect\.mjs does not meet the driver contract: driver\.connect is not a function/);
    await assert.rejects(new DriverRegistry({ mine: './wrong-name.mjs' }, dir.path).load([]), /wrong-name\.mjs .*driver\.name is "other" but the configuration calls it "mine"/);
    await assert.rejects(new DriverRegistry({ b: './broken.mjs' }, dir.path).load([]), /driver "b": cannot load module .*broken\.mjs: boom at load/);
    await assert.rejects(new DriverRegistry({ m: './missing.mjs' }, dir.path).load([]), /driver "m": cannot load module .*missing\.mjs/);
    await assert.rejects(new DriverRegistry({}, dir.path).load(['ftp']), /no driver named "ftp"/);
  } finally {
    dir.cleanup();
  }
});
