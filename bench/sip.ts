/**
 * SIP benchmark. Workload: a SEDA 2.1 zip of N binary objects of S bytes (default 10,000 × 4 KiB,
 * incompressible, stored), one group and one unit per object.
 *   unpack:       ours (yauzl, limits, SHA-512 in the same pass) vs `unzip -q` (Info-ZIP, no digest)
 *   parse+check:  ours (saxes stream → model → semantic checks, digests reused from the unpack)
 *                 vs a bare saxes pass over the same manifest (no model, no checks)
 *   xsd:          xmllint-wasm validation of the manifest against SEDA 2.1
 * Usage: npm run bench -- sip [objects] [size]
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SaxesParser } from 'saxes';
import { makeSedaPackage } from '../test/fixtures/packages.ts';
import { Workspaces } from '../src/workspace/index.ts';
import { readPackage, validateSedaSchema } from '../src/sip/index.ts';
import { report, rssSampler, type BenchRow } from './lib/report.ts';

const objects = Number(process.argv[2] ?? 10_000);
const size = Number(process.argv[3] ?? 4096);
const dir = mkdtempSync(join(tmpdir(), 'coffre-bench-sip-'));
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

try {
  const pkg = await makeSedaPackage(join(dir, 'package.zip'), { objects, size });
  const rows: BenchRow[] = [];

  let t = process.hrtime.bigint();
  execFileSync('unzip', ['-q', pkg, '-d', join(dir, 'unzip')]);
  const unzipMs = ms(t);
  const ws = new Workspaces({ root: join(dir, 'ws') }).open('bench');
  const rss = rssSampler(() => process.memoryUsage().rss, 20);
  t = process.hrtime.bigint();
  const listing = await ws.unpack(pkg, { digests: ['sha512'] });
  const unpackMs = ms(t);
  rows.push({ case: 'unpack', ours_ms: unpackMs, baseline: 'unzip -q', baseline_ms: unzipMs, ratio: unpackMs / unzipMs, objects_per_s: Math.round(objects / (unpackMs / 1000)) });

  const manifest = ws.resolve('manifest.xml');
  t = process.hrtime.bigint();
  const parser = new SaxesParser({ xmlns: true });
  let elements = 0;
  parser.on('opentag', () => elements++);
  for await (const chunk of createReadStream(manifest, { encoding: 'utf8', highWaterMark: 256 * 1024 })) parser.write(chunk as string);
  parser.close();
  const saxMs = ms(t);
  t = process.hrtime.bigint();
  const sip = await readPackage(ws, listing, { validateSchema: false });
  const checkMs = ms(t);
  rows.push({ case: 'parse+check', ours_ms: checkMs, baseline: 'saxes pass only', baseline_ms: saxMs, ratio: checkMs / saxMs, objects_per_s: Math.round(sip.objects.length / (checkMs / 1000)) });

  t = process.hrtime.bigint();
  const issues = await validateSedaSchema(await readFile(manifest), 'manifest.xml', '2.1');
  const xsdMs = ms(t);
  if (issues.length) throw new Error(issues[0].message);
  t = process.hrtime.bigint();
  await readPackage(ws, listing);
  const allMs = ms(t);
  rows.push({ case: 'xsd validation', ours_ms: xsdMs, baseline: '', baseline_ms: '', ratio: '', objects_per_s: '' });
  rows.push({ case: 'parse+xsd+check', ours_ms: allMs, baseline: '', baseline_ms: '', ratio: '', objects_per_s: Math.round(objects / (allMs / 1000)) });
  const peak = rss.stop();
  report('sip', {
    workload: `SEDA 2.1 zip, ${objects} objects of ${size} bytes`, packageBytes: statSync(pkg).size,
    manifestBytes: statSync(manifest).size, elements, peakRssMiB: Math.round(peak / 2 ** 20),
  }, rows);
  console.log(`package ${statSync(pkg).size} bytes, manifest ${statSync(manifest).size} bytes, peak RSS ${Math.round(peak / 2 ** 20)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
