import { stat } from 'node:fs/promises';
import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { WorkspaceError } from '../../workspace/index.ts';
import { FORMAT_SNIFF_BYTES, identifyFormat } from '../../sip/index.ts';

/** Formats are identified from the first bytes while unpacking: OG_OBJECTS_FORMAT_CHECK reads no file. */
const IDENTIFY = { bytes: FORMAT_SNIFF_BYTES, identify: identifyFormat };

/**
 * SANITY_CHECK_SIP: the package exists and unpacks safely into the operation's workspace. The one
 * pass over every file's bytes also digests it (SHA-512, reused by CHECK_DIGEST and OBJ_STORAGE)
 * and identifies its format from its first bytes (reused by OG_OBJECTS_FORMAT_CHECK).
 */
export default class SanityCheckSip implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const packagePath = String(io.parameters.packagePath ?? '');
    try {
      await stat(packagePath);
    } catch {
      return { globalStatus: 'KO', params: { reason: `the package file is missing (${packagePath})` } };
    }
    const ws = io.services.workspaces.open(io.operationId);
    try {
      const listing = await ws.unpack(packagePath, { digests: ['sha512'], identify: IDENTIFY });
      return {
        globalStatus: 'OK',
        itemsStatus: [{ UNPACK: { globalStatus: 'OK' } }],
        params: { files: listing.files.length, size: listing.totalSize, kind: listing.kind },
        detail: { kind: listing.kind, files: listing.files.length, size: listing.totalSize, reused: listing.reused },
      };
    } catch (err) {
      if (err instanceof WorkspaceError) {
        return { globalStatus: 'KO', itemsStatus: [{ UNPACK: { globalStatus: 'KO' } }], params: { reason: err.message, code: err.code }, detail: { code: err.code, entry: err.entry } };
      }
      throw err;
    }
  }
}
