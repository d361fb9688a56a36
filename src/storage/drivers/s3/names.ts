import { checkContainer, checkId } from '../remote-names.ts';

export { checkContainer, checkId };

/**
 * Key normaliser in front of every S3 call: `<prefix><container>/<id>` for objects. Container names
 * never start with a dot, so `<prefix>.digests/` is a namespace of our own that no listing of a
 * container can see.
 */
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
