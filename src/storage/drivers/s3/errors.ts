import { StorageError, type StorageErrorCode } from '../../contract.ts';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'ServiceUnavailable']);
const AUTH = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'AuthorizationHeaderMalformed']);

/**
 * Maps an SDK or network failure to a StorageError: 5xx, throttling, resets and timeouts are
 * retryable; other 4xx (bad credentials, bad request, missing bucket) are not.
 */
export function toStorageError(err: unknown, what: string, offerId: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  const code = e.code ?? '';
  const detail = e.message && e.message !== 'UnknownError' ? e.message : name || String(err);
  const make = (c: StorageErrorCode, message: string, retryable: boolean) =>
    new StorageError(c, `offer ${offerId}: ${what}: ${message}`, retryable, offerId, { cause: err });

  if (name === 'AbortError' || name === 'TimeoutError' || code === 'ETIMEDOUT' || name === 'RequestTimeout') {
    return make('TIMEOUT', `timed out (${detail})`, true);
  }
  if (code === 'ECONNREFUSED') return make('UNAVAILABLE', `connection refused (${detail})`, true);
  if (NETWORK_CODES.has(code) || /socket hang up|ECONNRESET/i.test(detail)) return make('IO', `network error (${detail})`, true);
  if (AUTH.has(name) || status === 401 || status === 403) {
    return make('UNAVAILABLE', `access denied, check the offer's credentials and bucket rights (${name || status}: ${detail})`, false);
  }
  if (name === 'NoSuchBucket') return make('UNAVAILABLE', `bucket does not exist (${detail})`, false);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return make('NOT_FOUND', 'not found', false);
  if (name === 'InvalidRange' || status === 416) return make('BAD_REQUEST', `range not satisfiable (${detail})`, false);
  if (name === 'QuotaExceeded' || name === 'EntityTooLarge' || status === 507 || status === 413) return make('FULL', `no room left (${detail})`, false);
  if (name === 'BadDigest' || name === 'InvalidDigest') return make('DIGEST_MISMATCH', `server saw other bytes than sent (${detail})`, true);
  if (THROTTLING.has(name) || status === 429 || status === 503) return make('UNAVAILABLE', `service busy (${detail})`, true);
  if (status !== undefined && status >= 500) return make('IO', `server error ${status} (${detail})`, true);
  if (status !== undefined && status >= 400) return make('BAD_REQUEST', `request refused ${status} (${detail})`, false);
  if (e.$retryable) return make('IO', detail, true);
  return make('IO', detail, false);
}
