import type { Command } from 'commander';
import { openContext, type PlatformContext } from '../platform/index.ts';
import { openStorage } from '../storage/index.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { CliError, configFrom, withConfigOptions } from '../cli/common.ts';
import { createLogger } from '../log/index.ts';
import { openLogbook } from './open.ts';
import { sealJournals } from './seal.ts';
import { verifyJournals } from './verify.ts';
import { rebuildFromOffers } from './export.ts';
import { listOperations, showLifecycle, showOperation, type EventNode } from './read.ts';
import { STATUS_ORDER } from './api.ts';

async function withContext<T>(opts: Record<string, any>, fn: (ctx: PlatformContext, storage: () => Promise<StorageEngine>) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  const ctx = await openContext(config, createLogger(opts.debug ? 'debug' : 'warn'));
  let storage: StorageEngine | undefined;
  try {
    return await fn(ctx, async () => (storage ??= await openStorage({ config, cdb: ctx.cdb })));
  } finally {
    await storage?.close().catch(() => {});
    await ctx.cdb.close();
  }
}

const out = (text: string): void => void process.stdout.write(text + "\n");

function printTree(nodes: EventNode[], depth = 0): void {
  for (const e of nodes) {
    out(`${'  '.repeat(depth)}${e.evDateTime}  ${e.evType}  ${e.outcome}${e.obId ? `  [${e.obId}]` : ''}  ${e.outMessg}`);
    printTree(e.events, depth + 1);
  }
}

/** The logbook's subcommands of `coffre`: logbook seal|verify|rebuild, operations list|show, lifecycle. */
export function registerLogbookCommands(program: Command): void {
  const logbook = program.command('logbook').description('journals: seal, verify, rebuild from the offers');

  withConfigOptions(logbook.command('seal'))
    .description('seal every event since the last seal (Merkle tree, signature, proof in the offers)')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      await withContext(opts, async (ctx, storage) => {
        const engine = await storage();
        const lb = openLogbook(ctx.cdb, ctx.config, { storage: engine, log: ctx.log });
        const r = await sealJournals(lb, ctx.instanceKey);
        await lb.close();
        if (opts.json) out(JSON.stringify(r));
        else if (!r) out('nothing to seal: no event since the last seal');
        else out(`seal ${r.n}: ${r.leafCount} events, Merkle root ${r.merkleRoot.slice(0, 16)}…, proof ${r.proofId} (${r.proofSize} bytes) in the offers, operation ${r.operationId}`);
      });
    });

  withConfigOptions(logbook.command('verify'))
    .description('recheck every chain, Merkle root, signature and proof; exit 1 naming the first event that breaks')
    .option('--from <seal>', 'check seals from this number on')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => {
      const from = opts.from === undefined ? undefined : Number(opts.from);
      if (from !== undefined && (!Number.isInteger(from) || from < 1)) throw new CliError(`--from takes a seal number (1, 2…), got ${opts.from}`);
      const report = await withContext(opts, async (ctx, storage) =>
        verifyJournals(ctx.cdb, { storage: await storage(), strategyId: ctx.config.logbook.strategy, publicKey: ctx.instanceKey.publicKey, fromSeal: from, pageSize: ctx.config.logbook.pageSize }),
      );
      if (opts.json) out(JSON.stringify(report));
      else {
        for (const n of report.notes) out(`note: ${n}`);
        out(`${report.chains} chains, ${report.events} events, ${report.seals} seals, ${report.proofsChecked} proofs checked against the offers`);
        for (const p of report.problems.slice(0, 20)) out(`  ${p.kind}: ${p.message}`);
        if (report.problems.length > 20) out(`  … and ${report.problems.length - 20} more`);
      }
      if (!report.ok) throw new CliError(`journals broken: first at ${report.first!.message}`);
      if (!opts.json) out('journals intact');
    });

  withConfigOptions(logbook.command('rebuild'))
    .description('fill an empty database with the journals and seals kept in the offers')
    .action(async (opts) => {
      await withContext(opts, async (ctx, storage) => {
        const r = await rebuildFromOffers(ctx.cdb, await storage(), { strategyId: ctx.config.logbook.strategy, batchSize: ctx.config.logbook.batchSize });
        out(`rebuilt ${r.operations} operations (${r.events} events, ${r.lifecycleEvents} lifecycle events, ${r.stepRecords} step records) and ${r.seals} seals from the offers`);
      });
    });

  const operations = program.command('operations').description('operation journals');
  withConfigOptions(operations.command('list'))
    .description('list operations, newest first')
    .option('--status <status>', `STARTED (running), ${STATUS_ORDER.filter((s) => s !== 'UNKNOWN' && s !== 'STARTED').join(', ')}`)
    .option('--type <type>', 'INGEST, TRACEABILITY, AUDIT…')
    .option('--since <date>', 'started at or after this date (ISO 8601)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      let since: string | undefined;
      if (opts.since) {
        const d = new Date(opts.since);
        if (Number.isNaN(d.getTime())) throw new CliError(`--since takes a date like 2026-01-31 or 2026-01-31T12:00:00Z, got ${opts.since}`);
        since = d.toISOString();
      }
      const status = opts.status?.toUpperCase();
      if (status && status !== 'RUNNING' && !STATUS_ORDER.includes(status)) throw new CliError(`unknown status ${opts.status} (one of ${STATUS_ORDER.join(', ')})`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit takes a positive number, got ${opts.limit}`);
      const rows = await withContext(opts, (ctx) => listOperations(ctx.cdb, { status, type: opts.type, since, limit }));
      if (opts.json) return out(JSON.stringify(rows));
      if (!rows.length) return out('no operation');
      for (const r of rows) out(`${r.id}  ${r.type.padEnd(12)}  ${r.status.padEnd(8)}  ${r.startedAt}  ${r.endedAt ?? '-'}`);
    });

  withConfigOptions(operations.command('show'))
    .description("an operation's journal, events as a tree")
    .argument('<id>', 'operation id')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const op = await withContext(opts, (ctx) => showOperation(ctx.cdb, id));
      if (!op) throw new CliError(`no operation ${id}`);
      if (opts.json) return out(JSON.stringify(op));
      out(`${op.id}  ${op.type} (${op.evType})  ${op.status}  started ${op.startedAt}${op.endedAt ? `, ended ${op.endedAt}` : ''}`);
      printTree(op.events, 1);
    });

  withConfigOptions(program.command('lifecycle'))
    .description('the lifecycle journal of an archive unit or an object group')
    .argument('<id>', 'unit or object group id')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const views = await withContext(opts, (ctx) => showLifecycle(ctx.cdb, id));
      if (!views.length) throw new CliError(`no lifecycle ${id}`);
      if (opts.json) return out(JSON.stringify(views.length === 1 ? views[0] : views));
      for (const v of views) {
        out(`${v.kind} ${v.id}`);
        for (const e of v.events) out(`  ${e.evDateTime}  ${e.evType}  ${e.outDetail}  [${e.state}${e.rollbackReason ? `: ${e.rollbackReason}` : ''}]  ${e.outMessg}`);
      }
    });
}
