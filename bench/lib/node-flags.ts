import { readFileSync } from 'node:fs';

/**
 * The node flags `coffre` runs with (bin/coffre.js's first line, `#!/usr/bin/env -S node …`, and
 * `npm start`): the benchmarks start their coffre servers with them, as a deployment would.
 * BENCH_COFFRE_NODE_FLAGS replaces them ('' for none, or e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
 */
export function coffreNodeFlags(): string[] {
  const own = process.env.BENCH_COFFRE_NODE_FLAGS;
  if (own !== undefined) return own.split(' ').filter(Boolean);
  const shebang = readFileSync(new URL('../../bin/coffre.js', import.meta.url), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang);
  return m ? m[1].split(' ').filter(Boolean) : [];
}
