#!/usr/bin/env -S node --max-semi-space-size=2
// The flag: a young generation of 2 MiB semi-spaces instead of the 16 MiB that loading the
// libraries grows it to; ~30 MB less RSS for `coffre serve`, no throughput lost in bench upload
// or bench ingest. `npm start` passes the same flag; the benchmarks read it from this line.
// Runs the TypeScript sources directly through tsx: no build step between a clone and `coffre`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
