/** Stable codes for every way unpacking or reading a workspace can fail. */
export type WorkspaceErrorCode =
  | 'UNKNOWN_ARCHIVE_FORMAT' // neither zip nor tar (nor tar.gz)
  | 'CORRUPT_ARCHIVE' // the archive could not be read to its end
  | 'ENCRYPTED_ENTRY' // zip entry protected by a password
  | 'UNSAFE_NAME' // absolute, `..`, backslash, control character, empty segment
  | 'NAME_TOO_LONG' // whole name or one segment over the limit
  | 'TOO_DEEP' // more directory levels than allowed
  | 'DUPLICATE_ENTRY' // same name twice, or a file and a folder with one name
  | 'LINK_ENTRY' // symbolic or hard link
  | 'SPECIAL_ENTRY' // device, fifo or any entry that is neither a file nor a folder
  | 'TOO_MANY_ENTRIES'
  | 'TOO_LARGE' // total uncompressed size over the limit
  | 'RATIO_EXCEEDED' // compression ratio of one entry or of the whole archive over the limit
  | 'SIZE_MISMATCH' // an entry's real size differs from its header
  | 'INVALID_OPERATION_ID'
  | 'NOT_FOUND';

/** A workspace failure: `code` is stable, `entry` names the archive entry or file at fault. */
export class WorkspaceError extends Error {
  override readonly name = 'WorkspaceError';
  constructor(
    readonly code: WorkspaceErrorCode,
    message: string,
    readonly entry?: string,
  ) {
    super(entry !== undefined ? `${JSON.stringify(entry)}: ${message}` : message);
  }
}
