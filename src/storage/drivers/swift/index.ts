import type { Connection, Driver, DriverCapabilities, OfferDefinition } from '../../contract.ts';
import { Authenticator } from './auth.ts';
import { SwiftConnection } from './connection.ts';
import { drain, HttpClient } from './http.ts';
import { parseSwiftParameters } from './params.ts';

export { swiftParametersSchema, type SwiftParameters } from './params.ts';
export { SwiftConnection } from './connection.ts';

const capabilities: DriverCapabilities = {
  ranges: true,
  // Usable bytes are reported when the account has a quota (X-Account-Meta-Quota-Bytes).
  capacity: true,
  cachedDigest: true,
  writeLog: false,
  watch: false,
};

/** OpenStack Swift over its HTTP API, with tempauth (v1) or Keystone v3 authentication. */
export const driver: Driver = {
  name: 'swift',
  version: '1.0.0',
  capabilities,

  async isAvailable(offer: OfferDefinition): Promise<boolean> {
    let http: HttpClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const p = parseSwiftParameters(offer);
      const timeout = offer.limits.checkTimeoutMs;
      http = new HttpClient(1, timeout, timeout);
      const client = http;
      const check = (async () => {
        const session = await new Authenticator(p, client, offer.id).current();
        const res = await client.send({ method: 'HEAD', url: session.storageUrl, headers: { 'x-auth-token': session.token } });
        await drain(res);
        return res.status >= 200 && res.status < 300;
      })();
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeout);
      });
      return await Promise.race([check.catch(() => false), expired]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      http?.close();
    }
  },

  async connect(definition: OfferDefinition): Promise<Connection> {
    const offer = structuredClone(definition); // bound: later changes to the definition do not reach it
    const p = parseSwiftParameters(offer);
    const http = new HttpClient(Math.max(1, offer.limits.maxConnections), p.connectTimeout, p.requestTimeout);
    const auth = new Authenticator(p, http, offer.id);
    try {
      await auth.current(); // wrong credentials fail here, with a clear message
    } catch (err) {
      http.close();
      throw err;
    }
    return new SwiftConnection(offer, p, http, auth);
  },
};
