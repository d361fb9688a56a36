import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Workspaces } from '../../src/workspace/index.ts';
import { readPackage } from '../../src/sip/index.ts';
import { makeSedaPackage } from '../fixtures/packages.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir('coffre-large-');
after(() => tmp.cleanup());

test('a 10,000-object SEDA package unpacks and parses with a modest heap', async () => {
  const path = await makeSedaPackage(join(tmp.path, 'large.zip'), { objects: 10_000, size: 256 });
  const ws = new Workspaces({ root: join(tmp.path, 'ws') }).open('large');
  global.gc?.();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  try {
    const listing = await ws.unpack(path, { digests: ['sha512'] });
    assert.equal(listing.files.length, 10_001);
    const sip = await readPackage(ws, listing);
    assert.equal(sip.objects.length, 10_000);
    assert.equal(sip.units.length, 10_001);
    assert.equal(sip.groups.length, 10_000);
    assert.ok(sip.objects.every((o) => o.computedDigest?.value === o.declaredDigest?.value));
    assert.equal(sip.units.find((u) => u.id === 'AU-09999')?.parentIds[0], 'AU-ROOT');
  } finally {
    clearInterval(sampler);
  }
  // The model of 10,000 objects and units is kept; the manifest (about 9 MB) is never a DOM
  // on the JS heap (saxes streams it; the XSD validator works in its own wasm memory).
  const grown = (peak - base) / 2 ** 20;
  assert.ok(grown < 200, `heap grew by ${grown.toFixed(0)} MiB`);
});
