import { EventEmitter } from 'node:events';
import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import type { CoffreDb, Database } from '../db/index.ts';
import { nowIso } from '../db/index.ts';

export interface BusMessage<T = unknown> {
  id: number;
  topic: string;
  payload: T;
  createdAt: string;
}

/** A subscriber's handler runs in the transaction that moves its cursor: its effects in the
 * database and the acknowledgement of the message commit together (exactly-once effects). */
export type BusHandler = (message: BusMessage, trx: Transaction<Database>) => Promise<void>;

export interface Subscription {
  /** Stable name: the cursor is kept under it, so a restart resumes where it stopped. */
  name: string;
  /** Topics this subscriber takes; others only move its cursor. */
  topics: string[];
  handler: BusHandler;
}

const NOTIFY_CHANNEL = 'coffre_outbox';

/**
 * Writes a message to the outbox inside the caller's transaction, so that a message is never
 * lost between a write and its announcement (nor announced for a write that rolled back).
 */
export async function publish(trx: Kysely<Database>, topic: string, payload: unknown): Promise<number> {
  const row = await trx
    .insertInto('outbox')
    .values({ topic, payload: JSON.stringify(payload), created_at: nowIso() } as any)
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * The message bus: an append-only outbox in the database and one cursor per named subscriber.
 * Components share no state; they talk through these messages (seed 003). Delivery is in order
 * per subscriber; on PostgreSQL several processes may run the same subscriber, a row lock on its
 * cursor lets one at a time advance it.
 */
export class Bus {
  private readonly local = new EventEmitter();
  private readonly subscriptions: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = true;
  private listenClient?: { release(): void; query(q: string): Promise<unknown>; on(e: string, f: () => void): void };
  private running = new Map<string, Promise<void>>();
  private again = new Set<string>();

  constructor(
    private readonly cdb: CoffreDb,
    private readonly options: { pollIntervalMs: number; batchSize?: number; onError?: (sub: string, err: unknown) => void },
  ) {}

  /** Publishes outside any caller transaction (its own), and wakes local subscribers. */
  async publishNow(topic: string, payload: unknown): Promise<number> {
    const id = await publish(this.cdb.db, topic, payload);
    this.wake();
    return id;
  }

  /** Call after committing a transaction that published: subscribers look at once. */
  wake(): void {
    this.local.emit('wake');
    if (this.cdb.pgPool) this.cdb.db.executeQuery(sql`select pg_notify(${NOTIFY_CHANNEL}, '')`.compile(this.cdb.db)).catch(() => {});
  }

  subscribe(subscription: Subscription): void {
    this.subscriptions.push(subscription);
    if (!this.stopped) this.schedule(subscription);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.local.on('wake', () => this.runAll());
    if (this.cdb.pgPool) {
      const client = await this.cdb.pgPool.connect();
      client.on('notification', () => this.runAll());
      client.on('error', () => {});
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.listenClient = client as any;
    }
    for (const s of this.subscriptions) this.schedule(s);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.local.removeAllListeners();
    await Promise.allSettled(this.running.values());
    this.listenClient?.release();
    this.listenClient = undefined;
  }

  private schedule(s: Subscription) {
    const t = setInterval(() => this.run(s), this.options.pollIntervalMs);
    t.unref();
    this.timers.push(t);
    this.run(s);
  }

  private runAll() {
    for (const s of this.subscriptions) this.run(s);
  }

  /** Runs one subscriber until it has caught up; a wake-up during a run triggers another pass. */
  private run(s: Subscription) {
    if (this.stopped) return;
    if (this.running.has(s.name)) {
      this.again.add(s.name);
      return;
    }
    const p = (async () => {
      try {
        do {
          this.again.delete(s.name);
          while (!this.stopped && (await this.deliverBatch(s)) > 0);
        } while (this.again.has(s.name) && !this.stopped);
      } catch (err) {
        this.options.onError?.(s.name, err);
      } finally {
        this.running.delete(s.name);
      }
    })();
    this.running.set(s.name, p);
  }

  /** Delivers up to one batch to a subscriber; returns how many messages it passed. */
  async deliverBatch(s: Subscription): Promise<number> {
    const batchSize = this.options.batchSize ?? 100;
    const db = this.cdb.db;
    await db
      .insertInto('bus_cursor')
      .values({ subscriber: s.name, last_id: 0, updated_at: nowIso() })
      .onConflict((oc) => oc.column('subscriber').doNothing())
      .execute();
    return db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('bus_cursor').select('last_id').where('subscriber', '=', s.name);
      if (this.cdb.dialect === 'postgres') q = q.forUpdate().skipLocked();
      const cursor = await q.executeTakeFirst();
      if (!cursor) return 0; // another process holds this subscriber right now
      const rows = await trx
        .selectFrom('outbox')
        .selectAll()
        .where('id', '>', cursor.last_id)
        .orderBy('id')
        .limit(batchSize)
        .execute();
      if (rows.length === 0) return 0;
      for (const row of rows) {
        if (!s.topics.includes(row.topic) && !s.topics.includes('*')) continue;
        await s.handler({ id: Number(row.id), topic: row.topic, payload: JSON.parse(row.payload), createdAt: row.created_at }, trx);
      }
      await trx
        .updateTable('bus_cursor')
        .set({ last_id: Number(rows[rows.length - 1].id), updated_at: nowIso() })
        .where('subscriber', '=', s.name)
        .execute();
      return rows.length;
    });
  }
}
