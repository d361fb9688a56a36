import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Connection, Driver, DriverCapabilities, OfferDefinition } from '../../contract.ts';
import { createS3Client } from './client.ts';
import { S3Connection } from './connection.ts';
import { toStorageError } from './errors.ts';
import { parseS3Parameters } from './params.ts';

export { s3ParametersSchema, type S3Parameters } from './params.ts';

const capabilities: DriverCapabilities = {
  ranges: true,
  // Usable bytes are reported only when the offer sets quotaBytes (S3 has no capacity to ask).
  capacity: true,
  cachedDigest: true,
  writeLog: false,
  watch: false,
};

/** Any S3-compatible service, through @aws-sdk/client-s3 and @aws-sdk/lib-storage. */
export const driver: Driver = {
  name: 's3',
  version: '1.0.0',
  capabilities,

  async isAvailable(offer: OfferDefinition): Promise<boolean> {
    let client;
    try {
      const p = parseS3Parameters(offer);
      client = createS3Client(offer, p);
      await client.send(new HeadBucketCommand({ Bucket: p.bucket }), { abortSignal: AbortSignal.timeout(offer.limits.checkTimeoutMs) });
      return true;
    } catch (err) {
      // A missing bucket still means the service answers; connect() creates it when allowed.
      const e = toStorageError(err, 'availability', offer.id);
      return e.code === 'NOT_FOUND' && offer.parameters.createBucket !== false;
    } finally {
      client?.destroy();
    }
  },

  async connect(definition: OfferDefinition): Promise<Connection> {
    const offer = structuredClone(definition); // bound: later changes to the definition do not reach it
    const p = parseS3Parameters(offer);
    const client = createS3Client(offer, p);
    const connection = new S3Connection(offer, p, client);
    try {
      await connection.ensureBucket();
    } catch (err) {
      client.destroy();
      throw err;
    }
    return connection;
  },
};
