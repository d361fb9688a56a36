import { createHash } from 'node:crypto';

/**
 * Merkle tree over a stream of leaves, SHA-512, shaped as RFC 6962's Merkle Tree Hash (leaf
 * hash = H(0x00 ‖ leaf), node = H(0x01 ‖ left ‖ right), left subtree = the largest power of two):
 * the prefixes stop a node from passing for a leaf, and the shape lets it be built with a stack of
 * log2(n) perfect subtrees, so a million leaves never sit in memory.
 */
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export class MerkleBuilder {
  private readonly stack: { size: number; hash: Buffer }[] = [];
  count = 0;

  add(leaf: Buffer): void {
    let node = { size: 1, hash: createHash('sha512').update(LEAF).update(leaf).digest() };
    this.count++;
    while (this.stack.length && this.stack[this.stack.length - 1].size === node.size) {
      const left = this.stack.pop()!;
      node = { size: left.size * 2, hash: createHash('sha512').update(NODE).update(left.hash).update(node.hash).digest() };
    }
    this.stack.push(node);
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
