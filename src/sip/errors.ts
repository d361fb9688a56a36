/** Where a problem was found: the manifest (line, element, id) or a package file. */
export interface SipLocation {
  file?: string;
  line?: number;
  column?: number;
  element?: string;
  id?: string;
}

export type SipErrorCode =
  | 'UNKNOWN_PACKAGE_KIND' // neither manifest.xml nor bagit.txt
  | 'MANIFEST_MISSING'
  | 'MANIFEST_TOO_LARGE'
  | 'MANIFEST_MALFORMED' // not well-formed XML, or not an ArchiveTransfer
  | 'DOCTYPE_REFUSED' // DTDs and entities are never processed
  | 'UNSUPPORTED_SEDA_VERSION'
  | 'SCHEMA_INVALID' // the XSD of the manifest's version refuses it
  | 'DUPLICATE_ID'
  | 'UNSAFE_NAME'
  | 'DECLARED_FILE_MISSING'
  | 'UNDECLARED_FILE'
  | 'DUPLICATE_URI'
  | 'DIGEST_MISSING'
  | 'DIGEST_MISMATCH'
  | 'UNKNOWN_DIGEST_ALGORITHM'
  | 'UNIT_CYCLE'
  | 'UNIT_TREE_TOO_DEEP'
  | 'UNKNOWN_UNIT'
  | 'UNKNOWN_GROUP'
  | 'UNKNOWN_OBJECT'
  | 'OBJECT_REFERENCED_OUTSIDE_GROUP'
  | 'PHYSICAL_DECLARED_AS_BINARY'
  | 'BINARY_DECLARED_AS_PHYSICAL'
  | 'EMBEDDED_CONTENT_UNSUPPORTED' // Attachment with inline base64 bytes
  | 'BAGIT_DECLARATION_INVALID' // bagit.txt missing or wrong
  | 'BAGIT_MANIFEST_MISSING'
  | 'BAGIT_MANIFEST_INVALID'
  | 'BAGIT_FETCH_UNSUPPORTED'
  | 'PAYLOAD_OXUM_MISMATCH'
  | 'TAG_FILE_TOO_LARGE';

export type SipWarningCode = 'SIZE_MISMATCH' | 'UNREFERENCED_GROUP' | 'FORMAT_MISMATCH';

export interface SipIssue<C extends string = SipErrorCode> {
  code: C;
  message: string;
  where?: SipLocation;
}

export type SipWarning = SipIssue<SipWarningCode>;

export function describeLocation(where: SipLocation | undefined): string {
  if (!where) return '';
  const parts: string[] = [];
  if (where.file) parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
  else if (where.line !== undefined) parts.push(`line ${where.line}`);
  if (where.element) parts.push(`<${where.element}${where.id ? ` id="${where.id}"` : ''}>`);
  else if (where.id) parts.push(`id "${where.id}"`);
  return parts.join(' ');
}

/**
 * A package refused (KO). `code` is the first problem's; `issues` lists every problem found
 * (bounded), each with where it is. The message reads "<where>: <why>" for the first one.
 */
export class SipError extends Error {
  override readonly name = 'SipError';
  readonly code: SipErrorCode;
  readonly where?: SipLocation;
  readonly issues: SipIssue[];

  constructor(issues: SipIssue[] | SipIssue) {
    const list = Array.isArray(issues) ? issues : [issues];
    const first = list[0];
    const at = describeLocation(first.where);
    const more = list.length > 1 ? ` (and ${list.length - 1} more problem${list.length > 2 ? 's' : ''})` : '';
    super(`${at ? `${at}: ` : ''}${first.message}${more}`);
    this.code = first.code;
    this.where = first.where;
    this.issues = list;
  }

  static of(code: SipErrorCode, message: string, where?: SipLocation): SipError {
    return new SipError({ code, message, where });
  }
}

/** Gathers problems; throws them together, up to a bound, so that a report lists many at once. */
export class IssueCollector {
  readonly issues: SipIssue[] = [];
  readonly warnings: SipWarning[] = [];
  constructor(private readonly max = 100) {}

  error(code: SipErrorCode, message: string, where?: SipLocation): void {
    if (this.issues.length < this.max) this.issues.push({ code, message, where });
  }
  warn(code: SipWarningCode, message: string, where?: SipLocation): void {
    if (this.warnings.length < this.max * 10) this.warnings.push({ code, message, where });
  }
  throwIfAny(): void {
    if (this.issues.length > 0) throw new SipError(this.issues);
  }
}
