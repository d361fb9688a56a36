import { EventEmitter } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { CoffreDb, Database } from '../db/index.ts';
import { nowIso } from '../db/index.ts';

export interface JobInput {
  queue: string;
  /** Idempotency key: a second enqueue with the same key is a no-op. */
  key: string;
  operationId?: string;
  payload: unknown;
}

export interface Job<P = unknown> {
  id: number;
  queue: string;
  key: string;
  operationId: string | null;
  payload: P;
  /** How many times it was leased, this lease included. */
  attempts: number;
  owner: string;
}

export interface JobRow {
  key: string;
  state: string;
  attempts: number;
  result: unknown;
}

export interface QueueOptions {
  leaseTtlMs: number;
  pollIntervalMs: number;
}

const CHANNEL = 'coffre_queue';

/** `job_key` starts with `prefix` (substr: no LIKE wildcards to escape, no collation surprises). */
const keyPrefix = (prefix: string) => sql<boolean>`substr(job_key, 1, cast(${prefix.length} as integer)) = ${prefix}`;

/**
 * Jobs in the database, leased with an expiry that the holder renews. A holder that dies stops
 * renewing, its lease runs out and another worker leases the job again. PostgreSQL: the lease is
 * one UPDATE over a `FOR UPDATE SKIP LOCKED` pick, and LISTEN/NOTIFY wakes idle workers on every
 * node; SQLite: the same single UPDATE statement is atomic under its one writer, and wake-ups are
 * in-process (other processes poll).
 */
export class JobQueue {
  private readonly local = new EventEmitter();
  private listenClient?: { release(): void; query(q: string): Promise<unknown>; on(e: string, f: () => void): void };

  constructor(
    private readonly cdb: CoffreDb,
    readonly options: QueueOptions,
  ) {
    this.local.setMaxListeners(0);
  }

  get db(): Kysely<Database> {
    return this.cdb.db;
  }

  /** Starts listening for wake-ups from other processes (PostgreSQL only). */
  async start(): Promise<void> {
    if (!this.cdb.pgPool || this.listenClient) return;
    const client = await this.cdb.pgPool.connect();
    client.on('notification', () => this.local.emit('wake'));
    client.on('error', () => {});
    await client.query(`LISTEN ${CHANNEL}`);
    this.listenClient = client as any;
  }

  async stop(): Promise<void> {
    this.local.emit('wake');
    this.listenClient?.release();
    this.listenClient = undefined;
  }

  /** Enqueues jobs (inside the caller's transaction when `trx` is given); existing keys are kept. */
  async enqueue(jobs: JobInput[], trx: Kysely<Database> = this.cdb.db): Promise<void> {
    const now = nowIso();
    for (let i = 0; i < jobs.length; i += 200) {
      const rows = jobs.slice(i, i + 200).map((j) => ({
        queue: j.queue,
        job_key: j.key,
        operation_id: j.operationId ?? null,
        payload: JSON.stringify(j.payload),
        state: 'READY',
        owner: null,
        lease_until: 0,
        attempts: 0,
        result: null,
        created_at: now,
        updated_at: now,
      }));
      await trx.insertInto('queue_job').values(rows as any).onConflict((oc) => oc.column('job_key').doNothing()).execute();
    }
    if (trx === this.cdb.db) this.notify();
  }

  /** Wakes waiting workers and coordinators here and, on PostgreSQL, on every node. */
  notify(): void {
    this.local.emit('wake');
    if (this.cdb.pgPool) this.cdb.db.executeQuery(sql`select pg_notify(${CHANNEL}, '')`.compile(this.cdb.db)).catch(() => {});
  }

  /** Leases the oldest job that is ready or whose lease expired; undefined when none. */
  async lease<P = unknown>(queue: string, owner: string): Promise<Job<P> | undefined> {
    const now = Date.now();
    const until = now + this.options.leaseTtlMs;
    // SQLite: the oldest READY job and the oldest expired lease, each found through the
    // (queue, state, id) index; one OR over both scanned every job the queue ever held (DONE ones
    // included, which pile up) at every lease.
    const pick = this.cdb.dialect === 'postgres'
      ? sql`select id from queue_job
        where queue = ${queue} and (state = 'READY' or (state = 'LEASED' and lease_until < ${now}))
        order by id limit 1 for update skip locked`
      : sql`select id from queue_job where id in (
          (select min(id) from queue_job where queue = ${queue} and state = 'READY'),
          (select min(id) from queue_job where queue = ${queue} and state = 'LEASED' and lease_until < ${now}))
        order by id limit 1`;
    const result = await sql<any>`update queue_job
      set state = 'LEASED', owner = ${owner}, lease_until = ${until}, attempts = attempts + 1, updated_at = ${nowIso()}
      where id = (${pick})
      returning id, queue, job_key, operation_id, payload, attempts`.execute(this.cdb.db);
    const row = result.rows[0];
    if (!row) return undefined;
    return {
      id: Number(row.id),
      queue: row.queue,
      key: row.job_key,
      operationId: row.operation_id,
      payload: JSON.parse(row.payload),
      attempts: Number(row.attempts),
      owner,
    };
  }

  /** Extends the lease; false when the job was lost (expired and leased by another). */
  async renew(job: Job<unknown>): Promise<boolean> {
    const r = await this.cdb.db
      .updateTable('queue_job')
      .set({ lease_until: Date.now() + this.options.leaseTtlMs, updated_at: nowIso() })
      .where('id', '=', job.id)
      .where('owner', '=', job.owner)
      .where('state', '=', 'LEASED')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Records the result; false when the lease was lost (the result of the new holder wins). */
  async complete(job: Job<unknown>, result: unknown): Promise<boolean> {
    const r = await this.cdb.db
      .updateTable('queue_job')
      .set({ state: 'DONE', result: JSON.stringify(result), updated_at: nowIso() })
      .where('id', '=', job.id)
      .where('owner', '=', job.owner)
      .where('state', '=', 'LEASED')
      .executeTakeFirst();
    this.notify();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives a job back at once (a worker stopping cleanly). */
  async release(job: Job<unknown>): Promise<void> {
    await this.cdb.db
      .updateTable('queue_job')
      .set({ state: 'READY', owner: null, lease_until: 0, updated_at: nowIso() })
      .where('id', '=', job.id)
      .where('owner', '=', job.owner)
      .where('state', '=', 'LEASED')
      .execute();
    this.notify();
  }

  /**
   * The jobs whose key starts with `prefix` (e.g. every batch of one step). With the operation
   * they were enqueued for, found through its index instead of a scan of every job.
   */
  async jobs(prefix: string, operationId?: string): Promise<JobRow[]> {
    let q = this.cdb.db.selectFrom('queue_job').select(['job_key', 'state', 'attempts', 'result']).where(keyPrefix(prefix));
    if (operationId !== undefined) q = q.where('operation_id', '=', operationId);
    const rows = await q.orderBy('id').execute();
    return rows.map((r) => ({ key: r.job_key, state: r.state, attempts: Number(r.attempts), result: r.result ? JSON.parse(r.result) : null }));
  }

  /** Counts jobs of a key prefix that are not DONE (of one operation's jobs, when given: see jobs()). */
  async pending(prefix: string, operationId?: string): Promise<number> {
    let q = this.cdb.db.selectFrom('queue_job').select((eb) => eb.fn.countAll<number>().as('n')).where(keyPrefix(prefix)).where('state', '!=', 'DONE');
    if (operationId !== undefined) q = q.where('operation_id', '=', operationId);
    const row = await q.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Resolves on the next wake-up, or after `ms` (the poll interval by default), or on abort. */
  wait(ms = this.options.pollIntervalMs, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.local.off('wake', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Waiting never keeps a process alive on its own (the server or the CLI command does).
      timer.unref();
      this.local.once('wake', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
