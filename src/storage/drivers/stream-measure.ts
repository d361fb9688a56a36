import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError, type DigestAlgorithm } from '../contract.ts';

// Shared by the s3 and swift drivers (remote offers: they hash what they send, since the digest
// they report must come from their own pass, see PutRequest.sourceDigest). Depends only on the contract.

/**
 * Passes bytes through while hashing and counting them; fails the stream as soon as the body is
 * longer than announced, and at the end when it is shorter (the driver refuses a body of another
 * size). Extra hashes (e.g. md5 for Content-MD5) ride along in the same pass.
 */
export class MeasuringStream extends Transform {
  bytes = 0;
  private readonly hash: Hash;
  private readonly extra: Map<string, Hash>;
  private hex?: string;

  constructor(
    readonly algorithm: DigestAlgorithm,
    private readonly expectedSize: number,
    extraAlgorithms: string[] = [],
  ) {
    super();
    this.hash = createHash(algorithm);
    this.extra = new Map(extraAlgorithms.map((a) => [a, createHash(a)]));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expectedSize) {
      done(sizeMismatch(this.expectedSize, this.bytes, 'more than'));
      return;
    }
    this.hash.update(chunk);
    for (const h of this.extra.values()) h.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.bytes !== this.expectedSize) {
      done(sizeMismatch(this.expectedSize, this.bytes, 'only'));
      return;
    }
    done();
  }

  digest(): string {
    this.hex ??= this.hash.digest('hex');
    return this.hex;
  }

  extraDigest(algorithm: string, encoding: 'hex' | 'base64' = 'hex'): string {
    const h = this.extra.get(algorithm);
    if (!h) throw new Error(`no ${algorithm} hash requested`);
    return h.digest(encoding);
  }
}

function sizeMismatch(expected: number, got: number, word: string): StorageError {
  return new StorageError('SIZE_MISMATCH', `body has ${word} ${got} bytes, ${expected} announced`, false);
}

/** Hashes a whole stream (used to recompute a digest from the stored bytes). */
export async function hashStream(body: AsyncIterable<Buffer>, algorithm: DigestAlgorithm): Promise<{ digest: string; bytes: number }> {
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: hash.digest('hex'), bytes };
}
