import { stat } from 'node:fs/promises';
import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { WorkspaceError } from '../../workspace/index.ts';

/** SANITY_CHECK_SIP: the package exists and unpacks safely into the operation's workspace. */
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
      const listing = await ws.unpack(packagePath, { digests: ['sha512'] });
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
