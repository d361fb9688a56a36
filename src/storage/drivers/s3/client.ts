import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { OfferDefinition } from '../../contract.ts';
import type { S3Parameters } from './params.ts';

/**
 * An S3 client for one offer: keep-alive agents sized by the offer's connection limit, and the
 * two settings S3-compatible servers (Swift's s3api, MinIO, Ceph…) need with recent SDKs:
 * no aws-chunked checksum trailers, and Content-MD5 on DeleteObjects.
 */
export function createS3Client(offer: OfferDefinition, p: S3Parameters): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: Math.max(1, offer.limits.maxConnections) };
  const client = new S3Client({
    endpoint: p.endpoint,
    region: p.region,
    forcePathStyle: p.forcePathStyle,
    credentials:
      p.accessKeyId !== undefined && p.secretAccessKey !== undefined
        ? { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey }
        : undefined,
    // The engine retries with its own policy (only errors marked retryable); one layer is enough.
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: p.connectTimeout,
      requestTimeout: p.requestTimeout,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && request.headers && (typeof request.body === 'string' || request.body instanceof Uint8Array)) {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'coffreDeleteObjectsContentMd5', priority: 'low' },
  );
  return client;
}
