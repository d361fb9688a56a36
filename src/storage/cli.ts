import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CliError, configFrom, withConfigOptions } from '../cli/common.ts';
import { openAndMigrate } from '../db/index.ts';
import { openStorage } from './open.ts';
import type { Engine } from './engine.ts';
import { auditStorage } from './audit.ts';
import { StorageError } from './contract.ts';

/** Files at least this big get a progress bar (on a terminal). */
const PROGRESS_FROM_BYTES = 16 * 1024 * 1024;

async function withEngine<T>(opts: { config?: string; dataDir?: string }, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  const cdb = await openAndMigrate(config);
  let engine: Engine | undefined;
  try {
    engine = await openStorage({ config, cdb });
    return await fn(engine);
  } catch (err) {
    if (err instanceof StorageError) throw new CliError(err.message);
    throw err;
  } finally {
    await engine?.close();
    await cdb.close();
  }
}

/** Counts bytes through a bar on stderr when it is a terminal and the object is big. */
function progress(size: number, label: string): { tap: Transform; stop(): void } {
  const show = process.stderr.isTTY && size >= PROGRESS_FROM_BYTES;
  const bar = show
    ? new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} MiB`, stream: process.stderr }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(Math.ceil(size / 2 ** 20), 0);
  let done = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      done += chunk.length;
      bar?.update(Math.floor(done / 2 ** 20));
      cb(null, chunk);
    },
  });
  return { tap, stop: () => bar?.stop() };
}

const fmt = (n: number | null) => (n === null ? 'unknown' : n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/** The storage's subcommands of `coffre`. */
export function registerStorageCommands(program: Command): void {
  const offers = program.command('offers').description('storage offers');
  withConfigOptions(offers.command('status'))
    .description('each offer: driver, availability, usable and total capacity, object count')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await withEngine(opts, async (engine) => {
        const status = await engine.offersStatus();
        const strategies = [...engine.referential.strategies.values()];
        if (opts.json) {
          const out = {
            offers: status.map((s) => ({ id: s.id, driver: s.driver, available: s.available, usableBytes: s.usableBytes, totalBytes: s.totalBytes, objects: s.objects })),
            strategies: strategies.map((s) => ({ id: s.id, offers: s.offers })),
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        for (const s of status) {
          process.stdout.write(`${s.id.padEnd(16)} ${s.driver.padEnd(8)} ${s.available ? 'available  ' : 'UNAVAILABLE'} usable ${fmt(s.usableBytes)} of ${fmt(s.totalBytes)}, ${s.objects} objects\n`);
        }
        for (const s of strategies) {
          process.stdout.write(`strategy ${s.id}: ${s.offers.map((o) => `${o.id}#${o.rank}${o.active ? '' : ' (inactive)'}${o.referent ? ' (referent)' : ''}`).join(', ')}\n`);
        }
      });
    });

  const store = program.command('store').description('store and read objects by hand');
  withConfigOptions(store.command('put <file>'))
    .description('store a file in every offer of a strategy; prints its id')
    .option('--strategy <id>', 'storage strategy', 'default')
    .option('--container <name>', 'container', 'objects')
    .option('--id <id>', 'object id (default: a new UUID)')
    .option('--json', 'print the whole result as JSON')
    .action(async (file: string, opts) => {
      let size: number;
      try {
        const s = await stat(file);
        if (!s.isFile()) throw new Error('not a regular file');
        size = s.size;
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const result = await withEngine(opts, async (engine) => {
        const bar = progress(size, `storing ${basename(file)}`);
        let first = true;
        try {
          return await engine.write({
            strategyId: opts.strategy,
            container: opts.container,
            id: opts.id ?? randomUUID(),
            source: {
              size,
              open: () => {
                const s = createReadStream(file, { highWaterMark: 1024 * 1024 });
                // Only the first, fanned-out read moves the bar; retries reread silently.
                if (first) {
                  first = false;
                  s.on('error', (err) => bar.tap.destroy(err));
                  return s.pipe(bar.tap);
                }
                return s;
              },
            },
          });
        } finally {
          bar.stop();
        }
      });
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else {
        for (const c of result.copies) process.stderr.write(`${c.offerId}: ${c.status}${c.message ? ` (${c.message})` : ''}\n`);
        process.stdout.write(`${result.id}\n`);
      }
      if (result.status !== 'OK') throw new CliError(result.message ?? `storing ${file} failed`);
    });

  withConfigOptions(store.command('get <id>'))
    .description('read an object back (first healthy offer by rank), checking its digest')
    .option('--strategy <id>', 'storage strategy', 'default')
    .option('--container <name>', 'container', 'objects')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (id: string, opts) => {
      await withEngine(opts, async (engine) => {
        const got = await engine.read({ strategyId: opts.strategy, container: opts.container, id, verifyDigest: true });
        const bar = progress(opts.out ? got.size : 0, `reading ${id}`);
        try {
          await pipeline(got.body, bar.tap, opts.out ? createWriteStream(opts.out) : process.stdout);
        } catch (err) {
          throw new CliError(`reading ${id} failed: ${(err as Error).message}`);
        } finally {
          bar.stop();
        }
      });
    });

  withConfigOptions(program.command('audit'))
    .description('check every recorded object on every offer of its strategy (digests recomputed); exit 1 on any discrepancy')
    .option('--offer <id>', 'audit only this offer')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const report = await withEngine(opts, (engine) =>
        auditStorage(engine, { offerId: opts.offer, onDiscrepancy: opts.json ? undefined : (d) => process.stdout.write(`${d.problem} ${d.message}\n`) }),
      );
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(`audit: ${report.objects} objects, ${report.copiesChecked} copies checked, ${report.discrepancies.length} discrepancies\n`);
      if (report.discrepancies.length) process.exitCode = 1;
    });
}
