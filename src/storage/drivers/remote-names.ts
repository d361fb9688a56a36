import { StorageError } from '../contract.ts';

/**
 * Names of the remote drivers (s3, swift), checked before any request so that no name escapes its
 * container: containers are 1-63 safe characters not starting with a dot (the dot namespace is the
 * drivers' own), ids are 1-512 bytes without control characters or empty, "." or ".." segments.
 */
const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkContainer(container: string): void {
  if (!CONTAINER.test(container)) {
    throw new StorageError('BAD_REQUEST', `invalid container name "${container}": 1-63 letters, digits, "_", "." or "-", not starting with a dot`, false);
  }
}

export function checkId(id: string): void {
  const bad =
    id.length === 0 ||
    Buffer.byteLength(id) > 512 ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/.test(id) ||
    id.startsWith('/') ||
    id.split('/').some((part) => part === '' || part === '.' || part === '..');
  if (bad) {
    throw new StorageError('BAD_REQUEST', `invalid object id "${id}": 1-512 bytes, no control characters, no empty, "." or ".." path segments`, false);
  }
}
