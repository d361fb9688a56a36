import { StorageError } from '../../contract.ts';

/**
 * Key normaliser in front of every S3 call: `<prefix><container>/<id>` for objects. Container names
 * never start with a dot, so `<prefix>.digests/` is a namespace of our own that no listing of a
 * container can see.
 */
const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkContainer(container: string): void {
  if (!CONTAINER.test(container)) {
    throw new StorageError(
      'BAD_REQUEST',
      `invalid container name "${container}": 1-63 letters, digits, "_", "." or "-", not starting with a dot`,
      false,
    );
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
    throw new StorageError(
      'BAD_REQUEST',
      `invalid object id "${id}": 1-512 bytes, no control characters, no empty, "." or ".." path segments`,
      false,
    );
  }
}

export class KeyScheme {
  constructor(private readonly prefix: string) {}

  containerPrefix(container: string): string {
    checkContainer(container);
    return `${this.prefix}${container}/`;
  }

  object(container: string, id: string): string {
    checkId(id);
    return this.containerPrefix(container) + id;
  }

  /** Where the digest of a multipart object is kept (see connection.ts, put). */
  digestSidecar(container: string, id: string): string {
    checkId(id);
    checkContainer(container);
    return `${this.prefix}.digests/${container}/${id}`;
  }

  /** Everything this offer wrote (objects and sidecars), for usage accounting. */
  get all(): string {
    return this.prefix;
  }
}
