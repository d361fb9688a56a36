import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { ObjectSource } from '../storage/engine-api.ts';

/**
 * A JSON-lines file in the temp folder, written line by line with back-pressure: proofs and
 * journals are never built as one string. `source()` hands it to the storage engine, which may
 * open it more than once (retries).
 */
export class JsonLinesFile {
  private readonly dir = mkdtempSync(join(tmpdir(), 'coffre-logbook-'));
  readonly path = join(this.dir, 'out.jsonl');
  private readonly out: WriteStream = createWriteStream(this.path);
  private failed: Error | undefined;

  constructor() {
    this.out.on('error', (err) => (this.failed = err));
  }

  private buffered = '';

  /** Appends one line; returns a promise only when the caller must wait for the disk (back-pressure). */
  write(value: unknown): Promise<void> | undefined {
    return this.writeText(JSON.stringify(value) + '\n');
  }

  /** Appends text already serialized (whole lines, each ending in a newline). */
  writeText(text: string): Promise<void> | undefined {
    if (this.failed) throw this.failed;
    this.buffered += text;
    if (this.buffered.length < 1024 * 1024) return undefined;
    return this.flushBuffer();
  }

  private flushBuffer(): Promise<void> | undefined {
    const chunk = this.buffered;
    this.buffered = '';
    if (chunk && !this.out.write(chunk)) return new Promise<void>((r) => this.out.once('drain', r));
    return undefined;
  }

  async finish(): Promise<ObjectSource> {
    await this.flushBuffer();
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failed) throw this.failed;
    const path = this.path;
    return { size: statSync(path).size, open: () => createReadStream(path) };
  }

  remove(): void {
    this.out.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Parses a JSON-lines stream, one value at a time. */
export async function* readJsonLines(body: Readable, what: string): AsyncGenerator<any> {
  const rl = createInterface({ input: body, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (!line) continue;
    try {
      yield JSON.parse(line);
    } catch {
      throw new Error(`${what}: line ${n} is not JSON`);
    }
  }
}
