/**
 * SIP: what a submitted package holds, checked. Works on a package already unpacked in a
 * workspace (src/workspace), and returns one normalized model for SEDA and BagIt packages.
 *
 *   const ws = Workspaces.fromConfig(config).open(operationId);
 *   const listing = await ws.unpack(packagePath, { digests: ['sha512'] });  // digests reused below
 *   const sip = await readPackage(ws, listing, { ...options });
 *   // sip: { kind: 'seda'|'bagit', version, header, managementMetadata, units, groups, objects,
 *   //        totalSize, warnings }   (see model.ts)
 *
 * Steps, usable one by one: detectPackageKind(listing) → 'seda' | 'bagit'; readPackage() does
 * for SEDA: stream-parse manifest.xml (saxes, DOCTYPE refused), version from the namespace
 * (2.1/2.2/2.3), XSD validation of that version (xmllint-wasm, schemas in standards/), then the
 * checks a schema cannot make (files declared and present, digests, unsafe Uri, unit cycles,
 * references, binary vs physical); for BagIt: bagit.txt, manifests, tag manifests, Payload-Oxum.
 * A refusal throws SipError { code, message, where: {file, line, element, id}, issues[] };
 * a wrong declared Size is a warning (SIZE_MISMATCH) and the real size is kept.
 * Options `checkDigests: false` leaves digests to a per-object step (verifyObjectDigest).
 * identifyFile()/identifyFormat() (format.ts) give a PRONOM id from the content.
 * Any other failure (I/O, validator crash) is a plain Error: technical (FATAL), not a KO.
 * The model is plain JSON (no Map, no class), so it can be stored or sent as is.
 */
import type { UnpackResult, Workspace, WorkspaceFile } from '../workspace/index.ts';
import { SipError } from './errors.ts';
import { readSedaPackage } from './seda.ts';
import { findBagRoot, readBag } from './bagit.ts';
import { resolveOptions, type ReadPackageOptions } from './options.ts';
import type { SipConfig } from './config.ts';
import type { PackageKind, SipObject, SipPackage } from './model.ts';
import { ensureDigests, SEDA_DIGEST_ALGORITHMS } from './digests.ts';

export { SipError, describeLocation, type SipErrorCode, type SipWarningCode, type SipIssue, type SipWarning, type SipLocation } from './errors.ts';
export type {
  SipPackage, SipUnit, SipObjectGroup, SipObject, Digest, FormatDeclared, JsonObject, JsonValue, PackageKind, SedaDigestAlgorithm,
} from './model.ts';
export { sipConfigSchema, DEFAULT_SIP_CONFIG, type SipConfig } from './config.ts';
export type { ReadPackageOptions } from './options.ts';
export { SEDA_DIGEST_ALGORITHMS, sedaAlgorithm, toSedaAlgorithm, ensureDigests } from './digests.ts';
export { identifyFormat, identifyFile, FORMAT_SNIFF_BYTES, type FormatIdentity } from './format.ts';
export { SEDA_NAMESPACES, type SedaVersion } from './seda-parse.ts';
export { validateSedaSchema, DEFAULT_STANDARDS_DIR } from './schema.ts';
export { parseTagFields } from './bagit.ts';

export const SEDA_MANIFEST = 'manifest.xml';

/** 'seda' when manifest.xml is at the root, 'bagit' when bagit.txt is (or in the single top folder). */
export function detectPackageKind(listing: UnpackResult): PackageKind | undefined {
  if (listing.files.some((f) => f.path === SEDA_MANIFEST)) return 'seda';
  if (findBagRoot(listing) !== undefined) return 'bagit';
  return undefined;
}

/**
 * Reads, validates and checks the package unpacked in `workspace`. Throws SipError (KO) with
 * every problem found; returns the model with its warnings otherwise.
 */
export async function readPackage(workspace: Workspace, listing: UnpackResult, options: ReadPackageOptions = {}, config?: SipConfig): Promise<SipPackage> {
  const resolved = resolveOptions(options, config);
  const kind = detectPackageKind(listing);
  if (kind === 'seda') return readSedaPackage(workspace, listing, SEDA_MANIFEST, resolved);
  if (kind === 'bagit') return readBag(workspace, listing, findBagRoot(listing)!, resolved);
  const nested = listing.files.find((f) => f.path.endsWith(`/${SEDA_MANIFEST}`));
  if (nested) {
    throw SipError.of('MANIFEST_MISSING', `manifest.xml must be at the root of the package, not in "${nested.path.slice(0, -SEDA_MANIFEST.length - 1)}/"`, { file: nested.path });
  }
  const hasXml = listing.files.some((f) => !f.path.includes('/') && f.path.toLowerCase().endsWith('.xml'));
  throw SipError.of(hasXml ? 'MANIFEST_MISSING' : 'UNKNOWN_PACKAGE_KIND', hasXml
    ? 'no manifest.xml at the root of the package (SEDA)'
    : 'neither a SEDA package (manifest.xml at the root) nor a BagIt bag (bagit.txt)');
}

/**
 * Per-object digest check (for a workflow that checks objects in batches): computes the digest
 * of the object's file with its declared algorithm — reusing the unpack's when `file` (its
 * listing entry) carries it, else reading the file once — stores it in `object.computedDigest`,
 * and says whether it matches.
 */
export async function verifyObjectDigest(workspace: Workspace, object: SipObject, file?: WorkspaceFile): Promise<boolean> {
  if (object.kind !== 'binary' || !object.path || !object.declaredDigest) return false;
  const entry: WorkspaceFile = file ?? { path: object.path, size: object.size ?? 0, digests: {} };
  const alg = SEDA_DIGEST_ALGORITHMS[object.declaredDigest.algorithm];
  await ensureDigests(workspace, entry, [alg]);
  object.computedDigest = { algorithm: object.declaredDigest.algorithm, value: entry.digests[alg]! };
  return object.computedDigest.value === object.declaredDigest.value;
}
