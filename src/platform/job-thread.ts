import { Worker } from 'node:worker_threads';

/** A job handed to a JobThread: told when the thread dies under it. */
export interface ThreadJob {
  fail(err: Error): void;
}

/** A message from the thread: it names the job it is about. */
export type JobMessage = { job: number } & Record<string, unknown>;

/**
 * One worker thread, started on first use from a program given as source (evaluated: works the
 * same under tsx and from a bundle), that runs numbered jobs. It holds the process open only
 * while a job is under way, routes each message to its job, and fails every job in flight if the
 * thread stops. Used by the engine's hashing thread, and through RequestThread by the fs
 * driver's folder-sync thread and SQLite's checkpoint thread.
 */
export class JobThread<J extends ThreadJob> {
  private worker?: Worker;
  private readonly jobs = new Map<number, J>();
  private nextJob = 1;

  constructor(
    private readonly options: {
      source: string;
      /** Says what the thread is, in the error of a thread that stopped. */
      name: string;
      resourceLimits: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number };
      onMessage(message: JobMessage, job: J): void;
    },
  ) {}

  /** Registers a job and posts its first message (its number added); returns the number. */
  start(job: J, message: Record<string, unknown>): number {
    const worker = (this.worker ??= this.spawn());
    const id = this.nextJob++;
    if (this.jobs.size === 0) worker.ref();
    this.jobs.set(id, job);
    worker.postMessage({ ...message, job: id });
    return id;
  }

  post(message: JobMessage): void {
    this.worker?.postMessage(message);
  }

  /** Forgets a job (done or given up); returns it if it was still known. */
  finish(id: number): J | undefined {
    const job = this.jobs.get(id);
    this.jobs.delete(id);
    if (this.jobs.size === 0) this.worker?.unref();
    return job;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(this.options.source, { eval: true, resourceLimits: this.options.resourceLimits });
    worker.on('message', (m: JobMessage) => {
      const job = this.jobs.get(m.job);
      if (job) this.options.onMessage(m, job);
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const id of [...this.jobs.keys()]) this.finish(id)?.fail(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the ${this.options.name} stopped (exit code ${code})`)));
    worker.unref();
    return worker;
  }
}

interface PendingRequest extends ThreadJob {
  resolve(reply: JobMessage): void;
}

/**
 * A JobThread whose jobs are one message and one reply: request() resolves with the reply, or
 * rejects when the reply carries `error: { message, code? }` or the thread stops.
 */
export class RequestThread {
  private readonly thread: JobThread<PendingRequest>;

  constructor(options: { source: string; name: string; resourceLimits: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number } }) {
    this.thread = new JobThread<PendingRequest>({
      ...options,
      onMessage: (m, pending) => {
        this.thread.finish(m.job);
        const error = m.error as { message: string; code?: string } | undefined;
        if (error) pending.fail(Object.assign(new Error(error.message), { code: error.code }));
        else pending.resolve(m);
      },
    });
  }

  request(message: Record<string, unknown>): Promise<JobMessage> {
    return new Promise((resolve, reject) => {
      this.thread.start({ resolve, fail: reject }, message);
    });
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
