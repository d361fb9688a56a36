import { StorageError } from '../../contract.ts';
import { drain, header, readText, type HttpClient } from './http.ts';
import { networkError, statusError } from './errors.ts';
import type { SwiftParameters } from './params.ts';

export interface Session {
  token: string;
  storageUrl: string;
  /** ms since epoch; Infinity when the auth service does not say. */
  expiresAt: number;
}

/**
 * Keeps one token for a connection: fetched on first use, renewed `tokenRenewMargin` before it
 * expires, and renewed at once when the server rejects it (`invalidate`). Concurrent callers share
 * one authentication round trip.
 */
export class Authenticator {
  private session?: Session;
  private pending?: Promise<Session>;
  /** Authentications done (for tests and metrics). */
  authentications = 0;

  constructor(
    private readonly p: SwiftParameters,
    private readonly http: HttpClient,
    private readonly offerId: string,
  ) {}

  async current(): Promise<Session> {
    const s = this.session;
    if (s && s.expiresAt - this.p.tokenRenewMargin > Date.now()) return s;
    return this.renew();
  }

  /** Forgets a token the server refused (only if no newer one replaced it meanwhile). */
  invalidate(token: string): void {
    if (this.session?.token === token) this.session = undefined;
  }

  private renew(): Promise<Session> {
    this.pending ??= (this.p.authVersion === '3' ? this.keystone() : this.tempauth())
      .then((s) => {
        this.authentications++;
        this.session = { ...s, storageUrl: (this.p.storageUrl ?? s.storageUrl).replace(/\/+$/, '') };
        return this.session;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  private async tempauth(): Promise<Session> {
    const what = `tempauth at ${this.p.authUrl} as ${this.p.user}`;
    let res;
    try {
      res = await this.http.send({ method: 'GET', url: this.p.authUrl, headers: { 'x-auth-user': this.p.user!, 'x-auth-key': this.p.key! } });
    } catch (err) {
      throw networkError(err, what, this.offerId);
    }
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw new StorageError('UNAVAILABLE', `offer ${this.offerId}: ${what}: authentication refused (${res.status}), check user and key`, false, this.offerId);
    }
    if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offerId);
    await drain(res);
    const token = header(res, 'x-auth-token') ?? header(res, 'x-storage-token');
    const storageUrl = header(res, 'x-storage-url');
    if (!token || !storageUrl) throw new StorageError('IO', `offer ${this.offerId}: ${what}: answer without X-Auth-Token or X-Storage-Url`, false, this.offerId);
    const ttl = Number(header(res, 'x-auth-token-expires'));
    return { token, storageUrl, expiresAt: Number.isFinite(ttl) && ttl > 0 ? Date.now() + ttl * 1000 : Infinity };
  }

  private async keystone(): Promise<Session> {
    const p = this.p;
    const base = p.authUrl.replace(/\/+$/, '');
    const what = `Keystone v3 at ${base} as ${p.username ?? p.userId}`;
    const user = p.userId
      ? { id: p.userId, password: p.password }
      : { name: p.username, password: p.password, domain: p.userDomainId ? { id: p.userDomainId } : { name: p.userDomainName } };
    const project = p.projectId
      ? { id: p.projectId }
      : { name: p.projectName, domain: p.projectDomainId ? { id: p.projectDomainId } : { name: p.projectDomainName } };
    const body = JSON.stringify({ auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } });
    let res;
    try {
      res = await this.http.send({ method: 'POST', url: `${base}/auth/tokens`, headers: { 'content-type': 'application/json' }, body });
    } catch (err) {
      throw networkError(err, what, this.offerId);
    }
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw new StorageError('UNAVAILABLE', `offer ${this.offerId}: ${what}: authentication refused (${res.status}), check username, password, domain and project`, false, this.offerId);
    }
    if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offerId);
    const token = header(res, 'x-subject-token');
    let parsed: KeystoneToken;
    try {
      parsed = JSON.parse(await readText(res, 4 << 20)) as KeystoneToken;
    } catch (err) {
      throw new StorageError('IO', `offer ${this.offerId}: ${what}: unreadable token answer (${(err as Error).message})`, true, this.offerId);
    }
    if (!token) throw new StorageError('IO', `offer ${this.offerId}: ${what}: answer without X-Subject-Token`, false, this.offerId);
    const storageUrl = p.storageUrl ?? this.endpointFrom(parsed, what);
    const expires = Date.parse(parsed.token?.expires_at ?? '');
    return { token, storageUrl, expiresAt: Number.isFinite(expires) ? expires : Infinity };
  }

  private endpointFrom(parsed: KeystoneToken, what: string): string {
    const services = (parsed.token?.catalog ?? []).filter((s) => s.type === 'object-store');
    const endpoints = services.flatMap((s) => s.endpoints ?? []);
    const match = endpoints.find(
      (e) => e.interface === this.p.interface && (!this.p.region || e.region_id === this.p.region || e.region === this.p.region),
    );
    if (!match) {
      throw new StorageError(
        'UNAVAILABLE',
        `offer ${this.offerId}: ${what}: no object-store endpoint with interface ${this.p.interface}${this.p.region ? ` in region ${this.p.region}` : ''} in the catalog (set storageUrl to bypass it)`,
        false,
        this.offerId,
      );
    }
    return match.url;
  }
}

interface KeystoneToken {
  token?: {
    expires_at?: string;
    catalog?: { type?: string; endpoints?: { interface?: string; region?: string; region_id?: string; url: string }[] }[];
  };
}
