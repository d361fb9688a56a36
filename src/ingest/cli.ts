import type { Command } from 'commander';
import { CliError, configFrom, withConfigOptions } from '../cli/common.ts';
import { openContext } from '../platform/index.ts';
import { createLogger } from '../log/index.ts';
import { openStorage } from '../storage/index.ts';
import { openLogbook } from '../logbook/index.ts';
import { startIngestRuntime } from './runtime.ts';
import { fetchOperation, followOperation, serverBase, submitPackage, IngestClientError, type IngestSummary } from './client.ts';
import { existsSync } from 'node:fs';

const FAILED = new Set(['KO', 'FATAL']);

/** The ingest's subcommands of `coffre`: `ingest` (client) and `worker` (a worker process). */
export function registerIngestCommands(program: Command): void {
  program
    .command('ingest')
    .description('upload packages through the gateway as ingests; --wait follows each operation to its end')
    .argument('<package...>', 'SEDA (zip) or BagIt (zip, tar) packages')
    .option('--url <url>', 'server URL', process.env.COFFRE_URL ?? 'http://127.0.0.1:8700')
    .option('--token <jwt>', 'bearer token of a depositor space (or COFFRE_TOKEN)')
    .option('--strategy <id>', 'storage strategy (default: the server\'s)')
    .option('--wait', 'follow each operation until it ends; exit 1 if one ends KO or FATAL')
    .option('--json', 'print {"operationId","status","steps"} per package (one JSON object per line)')
    .action(async (packages: string[], opts) => {
      const token = opts.token ?? process.env.COFFRE_TOKEN;
      if (!token) throw new CliError('--token is required (print one with `coffre token --space NAME`)');
      let base: string;
      try {
        base = serverBase(opts.url);
      } catch {
        throw new CliError(`--url is not a URL: ${opts.url}`);
      }
      for (const p of packages) if (!existsSync(p)) throw new CliError(`no such package file: ${p}`);
      let failed = false;
      for (const file of packages) {
        try {
          const id = await submitPackage({ base, token, file, strategy: opts.strategy });
          if (!opts.json) process.stderr.write(`${file}: operation ${id}\n`);
          let op: IngestSummary;
          if (opts.wait) {
            const printed = new Map<string, string>();
            op = await followOperation(base, token, id, (o) => {
              if (opts.json) return;
              for (const s of o.steps) {
                if (s.status === 'PENDING' || printed.get(s.name) === s.status) continue;
                printed.set(s.name, s.status);
                process.stderr.write(`  ${s.name.padEnd(32)} ${s.status}${s.items !== undefined && s.status !== 'STARTED' ? ` (${s.items} item${s.items === 1 ? '' : 's'})` : ''}\n`);
              }
            });
            if (FAILED.has(op.status)) failed = true;
          } else {
            op = await fetchOperation(base, token, id);
          }
          if (opts.json) process.stdout.write(JSON.stringify({ operationId: op.operationId, status: op.status, steps: op.steps }) + '\n');
          else process.stdout.write(`${file}: ${op.operationId} ${op.status}\n`);
        } catch (err) {
          if (err instanceof IngestClientError) throw new CliError(err.message);
          throw err;
        }
      }
      if (failed) throw new CliError('an ingest ended KO or FATAL', 1);
    });

  withConfigOptions(program.command('worker'))
    .description('run workflow workers (and a coordinator) against the shared PostgreSQL database')
    .option('--concurrency <n>', 'workers in this process (default ingest.workers)')
    .option('--no-coordinate', 'only run batches; leave driving operations to other processes')
    .action(async (opts) => {
      const config = configFrom(opts);
      if (!config.database.url || !/^postgres(ql)?:\/\//.test(config.database.url)) {
        throw new CliError('coffre worker needs the shared PostgreSQL database (database.url or COFFRE_DATABASE_URL=postgres://…); with SQLite the workers run inside `coffre serve`');
      }
      const workers = opts.concurrency !== undefined ? Number(opts.concurrency) : config.ingest.workers;
      if (!Number.isInteger(workers) || workers < 1) throw new CliError(`--concurrency must be a positive integer (got ${opts.concurrency})`);
      const ctx = await openContext(config, createLogger(config.log.level, { stderr: true }));
      let runtime: Awaited<ReturnType<typeof startIngestRuntime>> | undefined;
      let storage: Awaited<ReturnType<typeof openStorage>> | undefined;
      let logbook: ReturnType<typeof openLogbook> | undefined;
      try {
        storage = await openStorage({ config, cdb: ctx.cdb });
        ctx.services.set('storage', storage);
        logbook = openLogbook(ctx.cdb, config, { storage, log: ctx.log });
        ctx.services.set('logbook', logbook);
        runtime = await startIngestRuntime(ctx, { workers, coordinate: opts.coordinate !== false });
      } catch (err) {
        await logbook?.close().catch(() => {});
        await storage?.close().catch(() => {});
        await ctx.cdb.close();
        throw new CliError(`the worker cannot start: ${(err as Error).message}`);
      }
      process.stderr.write(`coffre worker: ${workers} worker${workers > 1 ? 's' : ''}${opts.coordinate !== false ? ' and a coordinator' : ''} on PostgreSQL; plugins: ${runtime.plugins.names().join(', ')}\n`);
      const shutdown = async () => {
        await runtime?.stop();
        await logbook?.close();
        await storage?.close();
        await ctx.cdb.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });
}
