import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The node flags `coffre` runs with (bin/coffre.js's first line, `#!/usr/bin/env -S node …`, and
 * `npm start`): the benchmarks start their coffre servers with them, as a deployment would.
 * BENCH_COFFRE_NODE_FLAGS replaces them ('' for none, or e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
 */
export function coffreNodeFlags(): string[] {
  const own = process.env.BENCH_COFFRE_NODE_FLAGS;
  if (own !== undefined) return own.split(' ').filter(Boolean);
  const shebang = readFileSync(findUp('bin/coffre.js'), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang);
  return m ? m[1].split(' ').filter(Boolean) : [];
}

/** `name` in this file's folder or the nearest one above (this code also runs from bundles in bench/results). */
function findUp(name: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, name))) return join(dir, name);
    if (dirname(dir) === dir) throw new Error(`${name} not found above ${fileURLToPath(import.meta.url)}`);
  }
}
