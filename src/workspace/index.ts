/**
 * Workspace: one working folder per operation, and safe unpacking of packages into it.
 *
 *   const workspaces = Workspaces.fromConfig(config);        // or new Workspaces({ root, limits })
 *   const ws = workspaces.open(operationId);
 *   const { files } = await ws.unpack(packagePath, { digests: ['sha512'] });
 *       // files: [{ path: 'Content/a.pdf', size, digests: { sha512 } }] (paths as in the archive),
 *       // digested while unpacking (md5, sha1, sha256, sha384, sha512: ask for what later steps
 *       // check, so that no byte is read twice); a replay after a crash starts clean, a replay
 *       // after success returns the stored listing (ws.listing() reads it back any time);
 *       // `identify: { bytes, identify(head) }` also lists each file's format, from the same pass.
 *   const stream = await ws.openRead('Content/a.pdf');       // read a package file
 *   await ws.writeOutput('report.json', json);               // a step's result, written atomically
 *   await ws.remove();
 *
 * Refusals throw WorkspaceError { code, entry, message } — codes in errors.ts (UNSAFE_NAME,
 * LINK_ENTRY, SPECIAL_ENTRY, DUPLICATE_ENTRY, TOO_MANY_ENTRIES, TOO_LARGE, RATIO_EXCEEDED, …).
 * Limits: `workspace.unpack.*` settings (config.ts), enforced on the bytes actually inflated.
 * Other failures (disk full, permissions) are plain Errors: technical, not the package's fault.
 * Layout: <root>/<operationId>/unpacked/{content/…, listing.json, in-package.json} and …/output/.
 * STORED zip entries stay in the package (keepStoredEntries): `ws.locate(name)` says where the
 * bytes of any file are (a workspace file, or a range of the package); openRead/size follow it. Workers on
 * several machines need `workspace.root` on a shared filesystem. One unpack per operation at a
 * time (hold the operation's lease).
 */
export { WorkspaceError, type WorkspaceErrorCode } from './errors.ts';
export {
  workspaceConfigSchema, unpackLimitsSchema, DEFAULT_UNPACK_LIMITS, type WorkspaceConfig, type UnpackLimits,
} from './config.ts';
export { checkEntryName, isSafeEntryName } from './names.ts';
export { DIGEST_ALGORITHMS, type DigestAlgorithm, type WorkspaceFile, type ContentFormat, type ContentIdentifier } from './sink.ts';
export { detectArchiveKind, type ArchiveKind } from './archives.ts';
export { Workspaces, Workspace, type UnpackOptions, type UnpackResult, type FileLocation } from './workspace.ts';
