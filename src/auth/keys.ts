import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../platform/files.ts';

/** The instance's own Ed25519 key: it signs the tokens `coffre token` prints and the journal seals. */
export interface InstanceKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  path: string;
  /** True when this call created it (first start). */
  created: boolean;
}

export function instanceKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'instance-ed25519.pem');
}

/** Loads the instance key from <dataDir>/keys, creating it (mode 0600) on first use. */
export function loadOrCreateInstanceKey(dataDir: string): InstanceKey {
  const path = instanceKeyPath(dataDir);
  let pem: string | undefined;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (pem !== undefined) {
    const privateKey = createPrivateKey(pem);
    return { privateKey, publicKey: createPublicKey(privateKey), path, created: false };
  }
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileAtomicSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  return { privateKey, publicKey, path, created: true };
}
