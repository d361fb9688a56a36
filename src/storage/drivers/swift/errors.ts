import { StorageError } from '../../contract.ts';
import { readText, type HttpResponse } from './http.ts';

const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Maps a network failure to a StorageError: resets and timeouts retryable, refused connection = unavailable. */
export function networkError(err: unknown, what: string, offerId: string): StorageError {
  if (err instanceof StorageError) {
    return err.offerId ? err : new StorageError(err.code, `offer ${offerId}: ${what}: ${err.message}`, err.retryable, offerId, { cause: err });
  }
  const e = err as { code?: string; name?: string; message?: string };
  const detail = e.message ?? String(err);
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND') {
    return new StorageError('UNAVAILABLE', `offer ${offerId}: ${what}: cannot connect (${detail})`, true, offerId, { cause: err });
  }
  if (e.name === 'AbortError' || e.code === 'ETIMEDOUT') {
    return new StorageError('TIMEOUT', `offer ${offerId}: ${what}: timed out (${detail})`, true, offerId, { cause: err });
  }
  if ((e.code && NETWORK_CODES.has(e.code)) || /socket hang up/i.test(detail)) {
    return new StorageError('IO', `offer ${offerId}: ${what}: network error (${detail})`, true, offerId, { cause: err });
  }
  return new StorageError('IO', `offer ${offerId}: ${what}: ${detail}`, false, offerId, { cause: err });
}

/** Maps an unexpected HTTP status: 5xx, 408 and 429 retryable; other 4xx not. Reads (a bit of) the body for the message. */
export async function statusError(res: HttpResponse, what: string, offerId: string): Promise<StorageError> {
  let text = '';
  try {
    text = (await readText(res, 64 * 1024)).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
  } catch {
    // keep the status alone
  }
  const s = res.status;
  const detail = `${s}${text ? ` ${text}` : ''}`;
  const make = (code: StorageError['code'], message: string, retryable: boolean) =>
    new StorageError(code, `offer ${offerId}: ${what}: ${message} (${detail})`, retryable, offerId);
  if (s === 401 || s === 403) return make('UNAVAILABLE', 'access denied, check the offer\'s credentials and rights', false);
  if (s === 404) return make('NOT_FOUND', 'not found', false);
  if (s === 409) return make('CONFLICT', 'conflict', false);
  if (s === 413 && /quota/i.test(text)) return make('FULL', 'quota exceeded', false);
  if (s === 413) return make('BAD_REQUEST', 'too large for the server', false);
  if (s === 416) return make('BAD_REQUEST', 'range not satisfiable', false);
  if (s === 422) return make('DIGEST_MISMATCH', 'server saw other bytes than sent', true);
  if (s === 507) return make('FULL', 'no space left on the server', false);
  if (s === 408 || s === 429 || s === 498) return make('UNAVAILABLE', 'server busy', true);
  if (s === 503) return make('UNAVAILABLE', 'service unavailable', true);
  if (s >= 500) return make('IO', 'server error', true);
  return make('BAD_REQUEST', 'request refused', false);
}
