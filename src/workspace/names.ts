import { WorkspaceError } from './errors.ts';
import type { UnpackLimits } from './config.ts';

type NameLimits = Pick<UnpackLimits, 'maxNameLength' | 'maxSegmentLength' | 'maxDepth'>;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Checks an archive entry name or a workspace path and returns it normalised: `/`-separated,
 * relative, without a leading `./` or a trailing `/`. Throws UNSAFE_NAME, NAME_TOO_LONG or TOO_DEEP
 * with the reason. Nothing is resolved against the filesystem: a name that passes can only
 * designate a place under the folder it is joined to.
 */
export function checkEntryName(raw: string, limits: NameLimits): string {
  if (raw.length === 0) throw new WorkspaceError('UNSAFE_NAME', 'empty name', raw);
  if (CONTROL.test(raw)) throw new WorkspaceError('UNSAFE_NAME', 'name contains a control character', raw);
  if (raw.includes('\\')) throw new WorkspaceError('UNSAFE_NAME', 'name contains a backslash', raw);
  if (raw.startsWith('/')) throw new WorkspaceError('UNSAFE_NAME', 'absolute name', raw);
  if (/^[A-Za-z]:/.test(raw)) throw new WorkspaceError('UNSAFE_NAME', 'name starts with a drive letter', raw);
  if (Buffer.byteLength(raw) > limits.maxNameLength) {
    throw new WorkspaceError('NAME_TOO_LONG', `name longer than ${limits.maxNameLength} bytes`, raw);
  }
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  if (name.endsWith('/')) name = name.slice(0, -1);
  if (name.length === 0) throw new WorkspaceError('UNSAFE_NAME', 'name designates the root folder', raw);
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '..') throw new WorkspaceError('UNSAFE_NAME', 'name contains a ".." segment', raw);
    if (segment === '.' || segment === '') throw new WorkspaceError('UNSAFE_NAME', 'name contains an empty or "." segment', raw);
    if (Buffer.byteLength(segment) > limits.maxSegmentLength) {
      throw new WorkspaceError('NAME_TOO_LONG', `a path segment is longer than ${limits.maxSegmentLength} bytes`, raw);
    }
  }
  if (segments.length > limits.maxDepth) {
    throw new WorkspaceError('TOO_DEEP', `name has ${segments.length} levels, more than ${limits.maxDepth}`, raw);
  }
  return name;
}

/** Same checks, as a boolean (for callers that report the fault their own way). */
export function isSafeEntryName(raw: string, limits: NameLimits): boolean {
  try {
    checkEntryName(raw, limits);
    return true;
  } catch {
    return false;
  }
}
