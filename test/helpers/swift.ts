import { randomBytes } from 'node:crypto';
import type { OfferDefinition, OfferLimits } from '../../src/storage/contract.ts';

/**
 * The real OpenStack Swift (with its S3 API) the `s3` and `swift` driver suites run against.
 * CI starts it with ../shared/tools/swift-saio/start.sh and sources /tmp/swift-saio/env.
 */
export interface SwiftEnv {
  authUrl: string;
  user: string;
  key: string;
  storageUrl: string;
}

export interface S3Env {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

const HOW_TO_RUN =
  'start ../shared/tools/swift-saio/start.sh and run `. /tmp/swift-saio/env && npm test -- test/storage/drivers`';

export const SWIFT_SKIP_REASON = `Swift suite skipped: SWIFT_AUTH_URL, SWIFT_USER, SWIFT_KEY are not set (${HOW_TO_RUN})`;
export const S3_SKIP_REASON = `S3 suite skipped: S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY are not set (${HOW_TO_RUN})`;

export function swiftEnv(): SwiftEnv | undefined {
  const { SWIFT_AUTH_URL, SWIFT_USER, SWIFT_KEY, SWIFT_STORAGE_URL } = process.env;
  if (!SWIFT_AUTH_URL || !SWIFT_USER || !SWIFT_KEY) return undefined;
  return { authUrl: SWIFT_AUTH_URL, user: SWIFT_USER, key: SWIFT_KEY, storageUrl: SWIFT_STORAGE_URL ?? '' };
}

export function s3Env(): S3Env | undefined {
  const { S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_FORCE_PATH_STYLE } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) return undefined;
  return {
    endpoint: S3_ENDPOINT,
    region: S3_REGION || 'us-east-1',
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    forcePathStyle: S3_FORCE_PATH_STYLE !== 'false',
  };
}

/** Lowercase random suffix, valid in bucket and container names: each run uses its own. */
export function runSuffix(): string {
  return randomBytes(5).toString('hex');
}

export const TEST_LIMITS: OfferLimits = {
  maxConnections: 8,
  maxConcurrency: 8,
  timeoutMs: 30_000,
  minBytesPerSecond: 1_000_000,
  checkTimeoutMs: 5_000,
  maxAttempts: 1,
};

export function s3Offer(env: S3Env, parameters: Record<string, unknown>, id = 's3-test'): OfferDefinition {
  return {
    id,
    driver: 's3',
    parameters: {
      endpoint: env.endpoint,
      region: env.region,
      accessKeyId: env.accessKeyId,
      secretAccessKey: env.secretAccessKey,
      forcePathStyle: env.forcePathStyle,
      ...parameters,
    },
    limits: TEST_LIMITS,
  };
}

export function swiftOffer(env: SwiftEnv, parameters: Record<string, unknown>, id = 'swift-test'): OfferDefinition {
  return {
    id,
    driver: 'swift',
    parameters: { authUrl: env.authUrl, user: env.user, key: env.key, ...parameters },
    limits: TEST_LIMITS,
  };
}

/** A tempauth token and storage URL, for test set-up and clean-up done straight on the Swift API. */
export async function swiftAdmin(env: SwiftEnv): Promise<{ token: string; storageUrl: string; request(method: string, path: string, headers?: Record<string, string>): Promise<Response> }> {
  const res = await fetch(env.authUrl, { headers: { 'X-Auth-User': env.user, 'X-Auth-Key': env.key } });
  if (!res.ok) throw new Error(`tempauth at ${env.authUrl} answered ${res.status}`);
  await res.arrayBuffer();
  const token = res.headers.get('x-auth-token')!;
  const storageUrl = res.headers.get('x-storage-url')!;
  return {
    token,
    storageUrl,
    request: (method, path, headers = {}) => fetch(storageUrl + path, { method, headers: { 'X-Auth-Token': token, ...headers } }),
  };
}

/** Deletes every container whose name starts with `prefix`, with all their objects. */
export async function removeSwiftContainers(env: SwiftEnv, prefix: string): Promise<void> {
  const admin = await swiftAdmin(env);
  const list = await admin.request('GET', `?format=json&prefix=${encodeURIComponent(prefix)}`);
  const containers = (await list.json()) as { name: string }[];
  // Manifests first, so that their segments are not deleted under them.
  containers.sort((a, b) => Number(a.name.endsWith('_segments')) - Number(b.name.endsWith('_segments')));
  for (const { name } of containers) {
    for (;;) {
      const page = await admin.request('GET', `/${encodeURIComponent(name)}?format=json`);
      if (page.status === 404) break;
      const objects = page.status === 204 ? [] : ((await page.json()) as { name: string }[]);
      if (objects.length === 0) break;
      for (const o of objects) {
        const path = `/${encodeURIComponent(name)}/${o.name.split('/').map(encodeURIComponent).join('/')}`;
        await (await admin.request('DELETE', path)).arrayBuffer();
      }
    }
    await (await admin.request('DELETE', `/${encodeURIComponent(name)}`)).arrayBuffer();
  }
}

/** Deletes a bucket made by an S3 test run, with its objects and unfinished multipart uploads. */
export async function removeS3Bucket(env: S3Env, bucket: string): Promise<void> {
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: env.forcePathStyle,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const uploads = await client.send(new s3.ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
    }
    let token: string | undefined;
    do {
      const page = await client.send(new s3.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) await client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await client.send(new s3.DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
  } finally {
    client.destroy();
  }
  // Swift's s3api keeps multipart segments in "<bucket>+segments".
  const swift = swiftEnv();
  if (swift) await removeSwiftContainers(swift, `${bucket}+segments`);
}
