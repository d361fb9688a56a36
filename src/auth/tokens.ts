import { readFileSync } from 'node:fs';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, createLocalJWKSet, importSPKI, decodeProtectedHeader, errors, type JWTPayload } from 'jose';
import type { CoffreConfig } from '../config/index.ts';
import type { InstanceKey } from './keys.ts';

/** Who is calling: the space they deposit into (if any) and whether they are an admin. */
export interface Principal {
  subject: string;
  space?: string;
  admin: boolean;
  claims: JWTPayload;
}

/** Why a token was refused, in words a client can act on; `code` is stable. */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    public readonly code: 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'SPACE_INVALID',
    message: string,
  ) {
    super(message);
  }
}

const SAFE_SPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Directories of the staging layout that no space may take. */
export const RESERVED_SPACES = new Set(['tusd', 'public']);

/** A space name is a plain, safe directory name: no separators, dots-only, controls or reserved names. */
export function isSafeSpaceName(name: unknown): name is string {
  return typeof name === 'string' && SAFE_SPACE.test(name) && !/^\.+$/.test(name) && !RESERVED_SPACES.has(name);
}

type KeyCandidate = { alg: string; key: KeyObject | Uint8Array | CryptoKey };

/**
 * Verifies bearer tokens: the instance key (EdDSA), an HS256 secret, RS256/ES256/EdDSA public
 * keys and a JWKS file from the configuration. `alg: none`, a wrong key, an altered payload, a
 * missing or past `exp` are all refused.
 */
export class TokenVerifier {
  private readonly candidates: KeyCandidate[] = [];
  private readonly jwks?: ReturnType<typeof createLocalJWKSet>;

  private constructor(private readonly auth: CoffreConfig['auth'], instanceKey: InstanceKey) {
    this.candidates.push({ alg: 'EdDSA', key: instanceKey.publicKey });
    if (auth.hs256Secret) this.candidates.push({ alg: 'HS256', key: createSecretKey(Buffer.from(auth.hs256Secret)) });
    if (auth.jwksFile) {
      const jwks = JSON.parse(readFileSync(auth.jwksFile, 'utf8'));
      if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`auth.jwksFile ${auth.jwksFile} has no "keys" array`);
      this.jwks = createLocalJWKSet(jwks);
    }
  }

  static async create(auth: CoffreConfig['auth'], instanceKey: InstanceKey): Promise<TokenVerifier> {
    const v = new TokenVerifier(auth, instanceKey);
    for (const file of auth.publicKeyFiles) {
      const pem = readFileSync(file, 'utf8');
      const before = v.candidates.length;
      for (const alg of ['RS256', 'ES256', 'EdDSA']) {
        try {
          v.candidates.push({ alg, key: await importSPKI(pem, alg) });
        } catch {
          // not a key for this algorithm
        }
      }
      if (v.candidates.length === before) {
        throw new Error(`auth.publicKeyFiles: ${file} is not an RSA, EC P-256 or Ed25519 public key in PEM`);
      }
    }
    return v;
  }

  /** Verifies an `Authorization` header value and returns the caller. */
  async verifyHeader(header: string | undefined): Promise<Principal> {
    if (!header) throw new AuthError('TOKEN_MISSING', 'an Authorization: Bearer <JWT> header is required');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new AuthError('TOKEN_INVALID', 'the Authorization header must be "Bearer <JWT>"');
    return this.verify(m[1]);
  }

  async verify(token: string): Promise<Principal> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('TOKEN_INVALID', 'the token is not a JWT');
    }
    const allowed = new Set([...this.auth.algorithms, 'EdDSA']);
    if (!alg || !allowed.has(alg)) throw new AuthError('TOKEN_INVALID', `tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
    const options = { algorithms: [alg], requiredClaims: ['exp'], clockTolerance: this.auth.clockToleranceSeconds };
    let lastError: unknown;
    const tries: Array<() => Promise<{ payload: JWTPayload }>> = this.candidates
      .filter((c) => c.alg === alg)
      .map((c) => () => jwtVerify(token, c.key, options));
    if (this.jwks) tries.push(() => jwtVerify(token, this.jwks!, options));
    for (const attempt of tries) {
      try {
        const { payload } = await attempt();
        return this.principal(payload);
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw new AuthError('TOKEN_EXPIRED', 'the token has expired');
        if (err instanceof errors.JWTClaimValidationFailed) throw new AuthError('TOKEN_INVALID', `the token is refused: ${err.message}`);
        if (err instanceof AuthError) throw err;
        lastError = err;
      }
    }
    void lastError;
    throw new AuthError('TOKEN_INVALID', 'the token signature does not verify with any configured key');
  }

  private principal(payload: JWTPayload): Principal {
    const space = payload[this.auth.spaceClaim];
    if (space !== undefined && !isSafeSpaceName(space)) {
      throw new AuthError('SPACE_INVALID', `the token's ${this.auth.spaceClaim} claim is not a safe space name (letters, digits, . _ -; not ${[...RESERVED_SPACES].join(', ')})`);
    }
    return {
      subject: String(payload.sub ?? space ?? 'anonymous'),
      space: space as string | undefined,
      admin: payload[this.auth.adminClaim] === true,
      claims: payload,
    };
  }
}

/** Signs a token with the instance key (what `coffre token` prints). */
export async function signInstanceToken(
  instanceKey: InstanceKey,
  auth: CoffreConfig['auth'],
  options: { space?: string; admin?: boolean; ttlSeconds: number; subject?: string },
): Promise<string> {
  if (options.space !== undefined && !isSafeSpaceName(options.space)) {
    throw new AuthError('SPACE_INVALID', `"${options.space}" is not a safe space name (letters, digits, . _ -; not ${[...RESERVED_SPACES].join(', ')})`);
  }
  const claims: JWTPayload = {};
  if (options.space) claims[auth.spaceClaim] = options.space;
  if (options.admin) claims[auth.adminClaim] = true;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(options.subject ?? options.space ?? 'admin')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds)
    .sign(instanceKey.privateKey);
}
