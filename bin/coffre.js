#!/usr/bin/env -S node --max-semi-space-size=2
// The flag: a young generation of 2 MiB semi-spaces instead of the 16 MiB that loading the
// libraries grows it to; ~30 MB less RSS for `coffre serve`, no throughput lost in bench upload
// or bench ingest. `npm start` passes the same flag; the benchmarks read it from this line.
//
// Runs dist/ (built by `npm run build`, which `npm install` runs) when it is newer than every file
// in src/; otherwise the TypeScript sources directly through tsx, so that a change in src/ is
// never hidden behind an old build. COFFRE_FROM_SOURCE=1 always takes the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time under a folder (a few hundred files: a few milliseconds). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

function builtIsFresh() {
  if (process.env.COFFRE_FROM_SOURCE) return false;
  try {
    return statSync(join(root, 'dist', 'cli', 'main.js')).mtimeMs >= newest(join(root, 'src'));
  } catch {
    return false; // no build
  }
}

let main;
if (builtIsFresh()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
await main(process.argv);
