import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { PreviousUpload, UrlStorage } from 'tus-js-client';
import { writeFileAtomic } from '../../platform/files.ts';

/** Where `coffre upload` remembers upload URLs by default. */
export const defaultStatePath = () => join(homedir(), '.coffre', 'uploads.json');

type Stored = PreviousUpload & { urlStorageKey: string; fingerprint: string };

/**
 * tus-js-client's URL storage as a small JSON file: upload URLs by file fingerprint, so that an
 * interrupted `coffre upload` resumes where it stopped (and a finished one is not sent again).
 * Writes are atomic and serialised within the process.
 */
export class JsonUrlStorage implements UrlStorage {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string = defaultStatePath()) {}

  private read(): Record<string, Stored> {
    try {
      const doc = JSON.parse(readFileSync(this.path, 'utf8'));
      return doc && typeof doc.uploads === 'object' ? doc.uploads : {};
    } catch {
      return {};
    }
  }

  private update<T>(fn: (uploads: Record<string, Stored>) => T): Promise<T> {
    const next = this.chain.then(async () => {
      const uploads = this.read();
      const result = fn(uploads);
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.path, JSON.stringify({ uploads }, null, 2) + '\n', 0o600);
      return result;
    });
    this.chain = next.catch(() => {});
    return next;
  }

  async findAllUploads(): Promise<PreviousUpload[]> {
    await this.chain;
    return Object.values(this.read());
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    await this.chain;
    return Object.values(this.read()).filter((u) => u.fingerprint === fingerprint);
  }

  removeUpload(urlStorageKey: string): Promise<void> {
    return this.update((uploads) => void delete uploads[urlStorageKey]);
  }

  addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    return this.update((uploads) => {
      const key = `tus::${fingerprint}::${randomBytes(6).toString('hex')}`;
      uploads[key] = { ...upload, fingerprint, urlStorageKey: key };
      return key;
    });
  }
}
