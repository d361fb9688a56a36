import type { SipWarning } from './errors.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Digest algorithm names as SEDA and Vitam write them. */
export type SedaDigestAlgorithm = 'MD5' | 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export interface Digest {
  algorithm: SedaDigestAlgorithm;
  /** Lower-case hex. */
  value: string;
}

export interface FormatDeclared {
  formatId?: string;
  mimeType?: string;
  formatLitteral?: string;
  encoding?: string;
}

/** An archive unit. Pointer units (ArchiveUnitRefId) are not units: they become parent links. */
export interface SipUnit {
  id: string;
  /** Parents inside the package (empty for a root unit). */
  parentIds: string[];
  title?: string;
  /** Descriptive metadata (SEDA Content; BagIt bag-info.txt) as JSON. */
  content: JsonObject;
  /** Management metadata (SEDA Management: rules…) as JSON, when declared. */
  management?: JsonObject;
  /** Object groups this unit references. */
  groupIds: string[];
  line?: number;
}

export interface SipObjectGroup {
  id: string;
  objectIds: string[];
  /** Units referencing this group. */
  unitIds: string[];
  /** True when the manifest declared no group: one was made for an ungrouped object. */
  implicit: boolean;
}

export interface SipObject {
  id: string;
  groupId: string;
  kind: 'binary' | 'physical';
  /** DataObjectVersion (usage), e.g. BinaryMaster_1, PhysicalMaster. */
  version?: string;
  /** Binary only: the file in the workspace (relative to the package root). */
  path?: string;
  /** Binary only: the real size, from the bytes (the declared size is only a claim). */
  size?: number;
  declaredSize?: number;
  declaredDigest?: Digest;
  /** Computed on the real bytes with the declared algorithm (or the bag manifest's). */
  computedDigest?: Digest;
  format?: FormatDeclared;
  filename?: string;
  /** Physical only. */
  physicalId?: string;
  /** The object's whole description as JSON (technical metadata, physical dimensions…). */
  metadata: JsonObject;
  line?: number;
}

export type PackageKind = 'seda' | 'bagit';

/** The normalized model of a checked package. */
export interface SipPackage {
  kind: PackageKind;
  /** '2.1' | '2.2' | '2.3' for SEDA, the bag's BagIt-Version for BagIt. */
  version: string;
  /** manifest.xml (SEDA) or bagit.txt (BagIt), relative to the package root. */
  manifestPath: string;
  /** SEDA header (MessageIdentifier, Date, ArchivalAgreement, agencies…), BagIt bagit.txt fields. */
  header: JsonObject;
  /** SEDA ManagementMetadata, when declared. */
  managementMetadata?: JsonObject;
  units: SipUnit[];
  groups: SipObjectGroup[];
  objects: SipObject[];
  /** Sum of the real sizes of the binary objects. */
  totalSize: number;
  warnings: SipWarning[];
}
