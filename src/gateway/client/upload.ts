import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as tus from 'tus-js-client';
import { JsonUrlStorage } from './url-store.ts';

export type ChunkChecksum = 'sha1' | 'sha256' | 'sha512' | 'md5' | 'none';

export interface UploadFilesOptions {
  /** The tus endpoint, e.g. http://127.0.0.1:8700/files/ */
  endpoint: string;
  token: string;
  files: string[];
  /** Sets the `private` metadata: the files go to the depositor's space instead of public/. */
  private?: boolean;
  metadata?: Record<string, string>;
  /** Files uploaded at the same time. */
  parallel?: number;
  /** Bytes per PATCH; each chunk carries its own Upload-Checksum. */
  chunkSize?: number;
  checksum?: ChunkChecksum;
  /** JSON file remembering upload URLs by file fingerprint (resume). */
  statePath?: string;
  retryDelays?: number[];
  onStart?(file: string, size: number, resumed: boolean): void;
  onProgress?(file: string, sent: number, total: number): void;
  onDone?(result: UploadFileResult): void;
  signal?: AbortSignal;
}

export interface UploadFileResult {
  file: string;
  size: number;
  url?: string;
  /** True when an earlier upload of the same file was resumed (or found complete). */
  resumed: boolean;
  error?: Error;
}

/** Hashes the bytes [start, end) of a file: the chunk tus-js-client is about to send. */
async function chunkDigest(path: string, start: number, end: number, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  if (end > start) for await (const c of createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('base64');
}

function uploadOne(path: string, size: number, options: UploadFilesOptions, storage: JsonUrlStorage): Promise<UploadFileResult> {
  const chunkSize = options.chunkSize ?? 16 * 2 ** 20;
  const algorithm = options.checksum ?? 'sha256';
  const metadata: Record<string, string> = { filename: basename(path), ...(options.metadata ?? {}) };
  if (options.private) metadata.private = 'true';
  return new Promise((resolvePromise) => {
    let resumed = false;
    const upload = new tus.Upload(createReadStream(path), {
      endpoint: options.endpoint,
      headers: { Authorization: `Bearer ${options.token}` },
      metadata,
      uploadSize: size,
      chunkSize,
      retryDelays: options.retryDelays ?? [0, 1000, 3000, 5000, 10000],
      urlStorage: storage,
      storeFingerprintForResuming: true,
      // A finished upload stays complete on the server: keeping its URL lets a second run see
      // that and send nothing again.
      removeFingerprintOnSuccess: false,
      onBeforeRequest: async (req) => {
        if (algorithm === 'none' || req.getMethod() !== 'PATCH') return;
        const offset = Number(req.getHeader('Upload-Offset'));
        const end = Math.min(offset + chunkSize, size);
        req.setHeader('Upload-Checksum', `${algorithm} ${await chunkDigest(path, offset, end, algorithm)}`);
      },
      onProgress: (sent, total) => options.onProgress?.(path, sent, total),
      onError: (error) => resolvePromise({ file: path, size, url: upload.url ?? undefined, resumed, error }),
      onSuccess: () => resolvePromise({ file: path, size, url: upload.url ?? undefined, resumed }),
    });
    options.signal?.addEventListener('abort', () => {
      void upload.abort().then(() => resolvePromise({ file: path, size, url: upload.url ?? undefined, resumed, error: new Error('interrupted') }));
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        if (previous.length > 0) {
          resumed = true;
          upload.resumeFromPreviousUpload(previous[previous.length - 1]);
        }
        options.onStart?.(path, size, resumed);
        upload.start();
      })
      .catch((error) => resolvePromise({ file: path, size, resumed, error }));
  });
}

/**
 * Uploads files to a Coffre gateway (or any tus 1.0 server) with tus-js-client: several at a
 * time, a checksum on every chunk, resumable across runs. Never throws for one file's failure:
 * each result says how that file went.
 */
export async function uploadFiles(options: UploadFilesOptions): Promise<UploadFileResult[]> {
  const files = options.files.map((f) => resolve(f));
  const sizes = files.map((f) => {
    const st = statSync(f);
    if (!st.isFile()) throw new Error(`${f} is not a regular file`);
    return st.size;
  });
  const storage = new JsonUrlStorage(options.statePath);
  const results: UploadFileResult[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length && !options.signal?.aborted) {
      const i = next++;
      results[i] = await uploadOne(files[i], sizes[i], options, storage);
      options.onDone?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 3, files.length)) }, worker));
  return results.filter(Boolean);
}
