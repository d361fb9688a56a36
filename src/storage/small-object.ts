import { Readable } from 'node:stream';
import { StorageError, type PutRequest } from './contract.ts';
import type { ObjectSource } from './engine-api.ts';

/**
 * Objects up to this size are read whole before they are written: one buffer handed to every
 * offer (PutRequest.bytes) instead of a fan-out of streams, whose set-up cost more than 4 KiB of
 * bytes take to write. Bounded: at most this much per write in flight, less than one fan-out
 * buffer (storage.fanoutBufferBytes).
 */
export const SMALL_OBJECT_BYTES = 64 * 1024;

/** The bytes of a small source: those it holds, else read from it (see readSmallSource). */
export async function smallSourceBytes(source: ObjectSource): Promise<Buffer> {
  if (!source.bytes) return readSmallSource(source.open(), source.size);
  if (source.bytes.length !== source.size) throw new StorageError('SIZE_MISMATCH', `the source gave ${source.bytes.length} bytes, ${source.size} announced`, false);
  return source.bytes;
}

/**
 * The bytes of a small source, read to its end. Fails, with nothing written anywhere, when the
 * source gives more or fewer bytes than announced or cannot be read.
 */
export async function readSmallSource(source: Readable, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got > size) throw new StorageError('SIZE_MISMATCH', `the source gave more than the ${size} bytes announced`, false);
      parts.push(chunk);
    }
  } catch (err) {
    source.destroy();
    if (err instanceof StorageError) throw err;
    throw new Error(`reading the source failed: ${(err as Error).message}`, { cause: err });
  }
  if (got !== size) throw new StorageError('SIZE_MISMATCH', `the source gave ${got} bytes, ${size} announced`, false);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
}

/**
 * A put of bytes in memory. `body` is made only if the driver asks for it (drivers that take
 * `bytes` never do): a stream per offer and per object is what this path saves.
 */
export function putOfBytes(fields: Omit<PutRequest, 'body' | 'bytes'>, bytes: Buffer): PutRequest {
  let body: Readable | undefined;
  return {
    ...fields,
    bytes,
    get body() {
      return (body ??= Readable.from([bytes], { objectMode: false }));
    },
  };
}
