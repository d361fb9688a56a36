import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../config.ts';

export interface PosixOwner {
  uid: number;
  gid: number;
}

function readIds(file: string): Map<string, number[]> {
  const map = new Map<string, number[]>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return map;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 4 && f[0]) map.set(f[0], [Number(f[2]), Number(f[3])]);
  }
  return map;
}

/**
 * Resolves the configured space → user/group mapping to numeric ids once, at start-up, so that
 * an unknown name stops the gateway with a clear message instead of failing mid-upload.
 */
export function resolveOwners(config: GatewayConfig): {
  forPrivate(space: string): PosixOwner | undefined;
  forPublic(space: string): PosixOwner | undefined;
  forSpaceDir(space: string): PosixOwner | undefined;
} {
  const users = readIds('/etc/passwd');
  const groups = readIds('/etc/group');
  const user = (v: string | number, where: string) => {
    if (typeof v === 'number') return { uid: v, gid: undefined as number | undefined };
    const ids = users.get(v);
    if (!ids) throw new Error(`${where}: no POSIX user named "${v}"`);
    return { uid: ids[0], gid: ids[1] };
  };
  const group = (v: string | number, where: string) => {
    if (typeof v === 'number') return v;
    const ids = groups.get(v);
    if (!ids) throw new Error(`${where}: no POSIX group named "${v}"`);
    return ids[0];
  };
  const owners = new Map<string, PosixOwner>();
  for (const [space, o] of Object.entries(config.owners)) {
    const u = user(o.user, `gateway.owners.${space}.user`);
    const gid = o.group !== undefined ? group(o.group, `gateway.owners.${space}.group`) : (u.gid ?? process.getgid?.() ?? 0);
    owners.set(space, { uid: u.uid, gid });
  }
  const publicGid = config.publicGroup !== undefined ? group(config.publicGroup, 'gateway.publicGroup') : undefined;
  return {
    forPrivate: (space) => owners.get(space),
    forSpaceDir: (space) => owners.get(space),
    forPublic: (space) => {
      const o = owners.get(space);
      if (!o) return undefined;
      return { uid: o.uid, gid: publicGid ?? o.gid };
    },
  };
}
