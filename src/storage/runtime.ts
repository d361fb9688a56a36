import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, type Connection, type Driver, type OfferDefinition } from './contract.ts';

/** A counting semaphore: at most `max` holders; the others wait in order. */
export class Semaphore {
  private held = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async acquire(): Promise<void> {
    if (this.held < this.max) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held--;
  }
}

/** Wraps any failure as a StorageError (a driver's plain Error is not retryable). */
export function asStorageError(err: unknown, offerId: string): StorageError {
  if (err instanceof StorageError) return err;
  return new StorageError('IO', (err as Error)?.message ?? String(err), false, offerId, { cause: err });
}

/**
 * What the engine runs against one offer: a pool of connections (at most maxConnections), a limit
 * on operations in flight (maxConcurrency), a timeout per operation that grows with the size
 * (max(floor, size / minBytesPerSecond)), and retries with exponential backoff for errors the
 * driver marks retryable.
 */
export class OfferRuntime {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly connections: Semaphore;
  private readonly operations: Semaphore;
  private closed = false;

  constructor(readonly offer: OfferDefinition, readonly driver: Driver, private readonly retryBaseDelayMs = 200) {
    this.connections = new Semaphore(offer.limits.maxConnections);
    this.operations = new Semaphore(offer.limits.maxConcurrency);
  }

  get id(): string {
    return this.offer.id;
  }

  timeoutFor(size: number): number {
    return Math.max(this.offer.limits.timeoutMs, Math.ceil((size / this.offer.limits.minBytesPerSecond) * 1000));
  }

  private async acquire(): Promise<Connection> {
    if (this.closed) throw new StorageError('UNAVAILABLE', `offer ${this.id}: storage engine closed`, false, this.id);
    await this.connections.acquire();
    const reused = this.idle.pop();
    if (reused) return reused;
    try {
      const conn = await withTimeout(this.driver.connect(this.offer), this.offer.limits.checkTimeoutMs, this.id, 'connect');
      this.all.add(conn);
      return conn;
    } catch (err) {
      this.connections.release();
      throw asStorageError(err, this.id);
    }
  }

  private release(conn: Connection, healthy: boolean): void {
    if (healthy && !this.closed) this.idle.push(conn);
    else {
      this.all.delete(conn);
      conn.close().catch(() => {});
    }
    this.connections.release();
  }

  /**
   * One attempt of an operation, with a connection from the pool and the size-based timeout.
   * `onTimeout` lets the caller stop its stream so that the driver gives up too.
   */
  async attempt<T>(what: string, size: number, op: (conn: Connection) => Promise<T>, onTimeout?: () => void): Promise<T> {
    await this.operations.acquire();
    try {
      const conn = await this.acquire();
      let healthy = true;
      try {
        return await withTimeout(op(conn), this.timeoutFor(size), this.id, what, onTimeout);
      } catch (err) {
        const e = asStorageError(err, this.id);
        healthy = !(e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT' || (e.code === 'IO' && e.retryable));
        throw e;
      } finally {
        this.release(conn, healthy);
      }
    } finally {
      this.operations.release();
    }
  }

  /** Iterates what a connection lists, holding the connection (and an operation slot) until done. */
  async *iterate<T>(make: (conn: Connection) => AsyncIterable<T>): AsyncIterable<T> {
    await this.operations.acquire();
    let conn: Connection | undefined;
    let healthy = true;
    try {
      conn = await this.acquire();
      yield* make(conn);
    } catch (err) {
      healthy = false;
      throw asStorageError(err, this.id);
    } finally {
      if (conn) this.release(conn, healthy);
      this.operations.release();
    }
  }

  /** An operation retried with backoff while it fails with a retryable error. */
  async run<T>(what: string, size: number, op: (conn: Connection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(what, size, op);
      } catch (err) {
        const e = err as StorageError;
        if (!e.retryable || attempt >= this.offer.limits.maxAttempts) throw e;
        await this.backoff(attempt);
      }
    }
  }

  backoff(attempt: number): Promise<void> {
    const delay = this.retryBaseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random());
    return sleep(Math.min(delay, 30_000));
  }

  /** isAvailable within the check timeout; never throws. */
  async isAvailable(): Promise<{ available: boolean; message?: string }> {
    try {
      const ok = await withTimeout(this.driver.isAvailable(this.offer), this.offer.limits.checkTimeoutMs, this.id, 'availability check');
      return ok ? { available: true } : { available: false, message: `offer ${this.id} is unavailable` };
    } catch (err) {
      return { available: false, message: `offer ${this.id} is unavailable: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const conns = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, offerId: string, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new StorageError('TIMEOUT', `offer ${offerId}: ${what} took more than ${ms} ms`, true, offerId));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
