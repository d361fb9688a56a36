import { open } from 'node:fs/promises';
import type { FileLocation } from '../workspace/index.ts';
import { checkEntryName, type UnpackResult, type Workspace, type WorkspaceFile } from '../workspace/index.ts';
import { IssueCollector, SipError, type SipLocation } from './errors.ts';
import { ensureDigests, SEDA_DIGEST_ALGORITHMS, sedaAlgorithm } from './digests.ts';
import { parseSedaManifest, type ParsedManifest, type RawObject, type SedaVersion } from './seda-parse.ts';
import { validateSedaSchema } from './schema.ts';
import { objectOf, textOf } from './xmljson.ts';
import type { FormatDeclared, SipObject, SipObjectGroup, SipPackage, SipUnit } from './model.ts';
import type { ReadPackageOptions } from './options.ts';

const BINARY_USAGES = new Set(['BinaryMaster', 'Dissemination', 'Thumbnail', 'TextContent']);
const usageOf = (version: string | undefined) => version?.replace(/_\d+$/, '');

/** Reads, validates and checks a SEDA package already unpacked in the workspace. */
export async function readSedaPackage(workspace: Workspace, listing: UnpackResult, manifestPath: string, options: Required<ReadPackageOptions>): Promise<SipPackage> {
  // The manifest's bytes: its workspace file, or its range of the package (a large STORED entry).
  const at = await workspace.locate(manifestPath);
  const size = at.size;
  if (size > options.maxManifestSize) {
    throw SipError.of('MANIFEST_TOO_LARGE', `manifest of ${size} bytes is larger than the ${options.maxManifestSize} accepted`, { file: manifestPath });
  }
  // The XSD validation runs in its own thread while this one parses: it starts as soon as the
  // root element names the version. A parse refusal still comes first; then the schema's.
  let validation: Promise<Awaited<ReturnType<typeof validateSedaSchema>>> | undefined;
  const onVersion = (version: SedaVersion) => {
    if (!options.validateSchema) return;
    validation = readRange(at).then((manifest) => validateSedaSchema(manifest, manifestPath, version, options.standardsDir));
    validation.catch(() => {}); // awaited below, unless the parse fails first
  };
  const parsed = await parseSedaManifest(at, manifestPath, { ...options, onVersion });
  if (validation) {
    const issues = await validation;
    if (issues.length > 0) throw new SipError(issues.slice(0, 100));
  }
  return checkManifest(workspace, listing, manifestPath, parsed, options);
}

/** The bytes of a located file (the manifest: bounded by maxManifestSize before this is called). */
async function readRange(at: FileLocation): Promise<Buffer> {
  const handle = await open(at.file, 'r');
  try {
    const buf = Buffer.alloc(at.size);
    let done = 0;
    while (done < at.size) {
      const { bytesRead } = await handle.read(buf, done, at.size - done, at.start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await handle.close();
  }
}

async function checkManifest(workspace: Workspace, listing: UnpackResult, manifestPath: string, parsed: ParsedManifest, options: Required<ReadPackageOptions>): Promise<SipPackage> {
  const issues = new IssueCollector();
  const where = (line: number | undefined, element: string, id?: string): SipLocation => ({ file: manifestPath, line, element, id });
  const files = new Map<string, WorkspaceFile>(listing.files.map((f) => [f.path, f]));

  // Identifiers are unique across units, groups and objects (the XSD says so too, as xsd:ID).
  const ids = new Map<string, string>();
  const claimId = (id: string, element: string, line: number) => {
    if (id === '') return issues.error('DUPLICATE_ID', 'element has no id', where(line, element));
    const previous = ids.get(id);
    if (previous) issues.error('DUPLICATE_ID', `id "${id}" is already used by a ${previous}`, where(line, element, id));
    else ids.set(id, element);
  };
  for (const g of parsed.groups) claimId(g.id, 'DataObjectGroup', g.line);
  for (const o of parsed.objects) claimId(o.id, o.kind === 'binary' ? 'BinaryDataObject' : 'PhysicalDataObject', o.line);
  for (const u of parsed.units) claimId(u.id, 'ArchiveUnit', u.line);

  // Groups: declared ones, then those made by DataObjectGroupId, then one per ungrouped object.
  const groups = new Map<string, SipObjectGroup>();
  for (const g of parsed.groups) groups.set(g.id, { id: g.id, objectIds: [], unitIds: [], implicit: false });
  for (const o of parsed.objects) {
    if (o.groupId && !groups.has(o.groupId)) groups.set(o.groupId, { id: o.groupId, objectIds: [], unitIds: [], implicit: false });
  }
  const objects: SipObject[] = [];
  const objectsById = new Map<string, SipObject>();
  const uris = new Map<string, string>();
  let totalSize = 0;
  for (const raw of parsed.objects) {
    const element = raw.kind === 'binary' ? 'BinaryDataObject' : 'PhysicalDataObject';
    let groupId = raw.groupId;
    if (!groupId && raw.groupRef) {
      if (!groups.has(raw.groupRef)) issues.error('UNKNOWN_GROUP', `DataObjectGroupReferenceId "${raw.groupRef}" names no declared group`, where(raw.line, element, raw.id));
      groupId = raw.groupRef;
    }
    const implicit = !groupId;
    // An ungrouped object gets a group of its own; "#" cannot occur in an xsd:ID, so no clash.
    if (!groupId) groupId = `${raw.id}#group`;
    let group = groups.get(groupId);
    if (!group) groups.set(groupId, (group = { id: groupId, objectIds: [], unitIds: [], implicit }));
    group.objectIds.push(raw.id);
    const object = describeObject(raw, groupId);
    objects.push(object);
    objectsById.set(raw.id, object);

    const usage = usageOf(object.version);
    if (raw.kind === 'physical' && usage && BINARY_USAGES.has(usage)) {
      issues.error('BINARY_DECLARED_AS_PHYSICAL', `a PhysicalDataObject declares the usage "${object.version}", which is for binary objects`, where(raw.line, element, raw.id));
    }
    if (raw.kind === 'binary') {
      if (usage === 'PhysicalMaster') {
        issues.error('PHYSICAL_DECLARED_AS_BINARY', `a BinaryDataObject declares the usage "${object.version}", which is for physical objects`, where(raw.line, element, raw.id));
      }
      totalSize += await checkBinary(raw, object);
    }
  }

  async function checkBinary(raw: RawObject, object: SipObject): Promise<number> {
    const at = where(raw.line, 'BinaryDataObject', raw.id);
    if (raw.inlineAttachment) {
      issues.error('EMBEDDED_CONTENT_UNSUPPORTED', 'Attachment with embedded bytes is not accepted: put the file in the package and name it in Uri', at);
      return 0;
    }
    const attachment = objectOf(raw.json, 'Attachment');
    const uri = textOf(raw.json, 'Uri') ?? (attachment?.['@uri'] as string | undefined) ?? (attachment?.['@filename'] as string | undefined);
    if (!uri) {
      issues.error('PHYSICAL_DECLARED_AS_BINARY', 'a BinaryDataObject names no file (Uri): a physical object must be declared as a PhysicalDataObject', at);
      return 0;
    }
    const path = uriToPath(uri);
    try {
      checkEntryName(path, { maxNameLength: 4096, maxSegmentLength: 1024, maxDepth: 1024 });
    } catch (err) {
      issues.error('UNSAFE_NAME', `Uri "${uri}" is unsafe: ${(err as Error).message.replace(/^"[^"]*": /, '')}`, at);
      return 0;
    }
    const file = files.get(path) ?? files.get(uri);
    if (!file) {
      issues.error('DECLARED_FILE_MISSING', `the file "${uri}" declared by this object is not in the package`, at);
      return 0;
    }
    const other = uris.get(file.path);
    if (other) issues.error('DUPLICATE_URI', `the file "${uri}" is already declared by object "${other}"`, at);
    uris.set(file.path, raw.id);
    object.path = file.path;
    object.size = file.size;
    if (object.declaredSize !== undefined && object.declaredSize !== file.size) {
      issues.warn('SIZE_MISMATCH', `declared Size ${object.declaredSize} differs from the file's ${file.size} bytes; the real size is kept`, at);
    }
    const digestElement = objectOf(raw.json, 'MessageDigest');
    const algorithmName = digestElement?.['@algorithm'];
    const value = textOf(raw.json, 'MessageDigest');
    if (value === undefined || typeof algorithmName !== 'string') {
      issues.error('DIGEST_MISSING', 'the object declares no MessageDigest with its algorithm', at);
      return file.size;
    }
    const algorithm = sedaAlgorithm(algorithmName);
    if (!algorithm) {
      issues.error('UNKNOWN_DIGEST_ALGORITHM', `digest algorithm "${algorithmName}" is unknown (accepted: ${Object.keys(SEDA_DIGEST_ALGORITHMS).join(', ')})`, at);
      return file.size;
    }
    object.declaredDigest = { algorithm, value: value.toLowerCase() };
    if (options.checkDigests) {
      const alg = SEDA_DIGEST_ALGORITHMS[algorithm];
      await ensureDigests(workspace, file, [alg]);
      object.computedDigest = { algorithm, value: file.digests[alg]! };
      if (object.computedDigest.value !== object.declaredDigest.value) {
        issues.error('DIGEST_MISMATCH', `${algorithm} of "${uri}" is ${object.computedDigest.value}, the manifest declares ${value}`, at);
      }
    }
    return file.size;
  }

  // Every file but the manifest is declared by an object.
  for (const f of listing.files) {
    if (f.path !== manifestPath && !uris.has(f.path)) {
      issues.error('UNDECLARED_FILE', 'file present in the package but declared by no BinaryDataObject', { file: f.path });
    }
  }

  // Units: pointer elements (ArchiveUnitRefId) become parent links to the unit they name.
  const units = new Map<string, SipUnit>();
  const pointers = new Map<string, string>();
  for (const u of parsed.units) {
    if (u.refId !== undefined) pointers.set(u.id, u.refId);
    else units.set(u.id, { id: u.id, parentIds: [], title: titleOf(u.content), content: u.content ?? {}, management: u.management, groupIds: [], line: u.line });
  }
  const resolveUnit = (id: string): string | undefined => {
    for (let hops = 0; hops < 1000 && id !== undefined; hops++) {
      if (units.has(id)) return id;
      id = pointers.get(id)!;
    }
    return undefined;
  };
  const children = new Map<string, string[]>();
  for (const u of parsed.units) {
    if (u.refId !== undefined && !resolveUnit(u.refId)) {
      issues.error('UNKNOWN_UNIT', `ArchiveUnitRefId "${u.refId}" names no declared unit`, where(u.line, 'ArchiveUnit', u.id));
      continue;
    }
    if (u.parentId === undefined) continue;
    const parent = resolveUnit(u.parentId);
    const child = resolveUnit(u.refId ?? u.id);
    if (!parent || !child) continue;
    const unit = units.get(child)!;
    if (!unit.parentIds.includes(parent)) {
      unit.parentIds.push(parent);
      const list = children.get(parent) ?? [];
      list.push(child);
      children.set(parent, list);
    }
  }
  checkTree(units, children, issues, manifestPath, options.maxUnitDepth);

  // References from units to groups and objects.
  for (const u of parsed.units) {
    const unit = units.get(u.id);
    if (!unit) continue;
    const at = (line: number) => where(line, 'DataObjectReference', u.id);
    for (const { ref, line } of u.groupRefs) {
      const group = groups.get(ref);
      if (!group) issues.error('UNKNOWN_GROUP', `DataObjectGroupReferenceId "${ref}" names no declared object group`, at(line));
      else link(unit, group);
    }
    for (const { ref, line } of u.objectRefs) {
      const object = objectsById.get(ref);
      if (!object) issues.error('UNKNOWN_OBJECT', `DataObjectReferenceId "${ref}" names no declared object`, at(line));
      else if (!groups.get(object.groupId)!.implicit) {
        issues.error('OBJECT_REFERENCED_OUTSIDE_GROUP', `object "${ref}" belongs to group "${object.groupId}": reference the group (DataObjectGroupReferenceId)`, at(line));
      } else link(unit, groups.get(object.groupId)!);
    }
  }
  for (const g of groups.values()) {
    if (g.unitIds.length === 0) issues.warn('UNREFERENCED_GROUP', `object group "${g.id}" is referenced by no archive unit`, { file: manifestPath, id: g.id });
  }
  issues.throwIfAny();

  return {
    kind: 'seda',
    version: parsed.version,
    manifestPath,
    header: parsed.header,
    managementMetadata: parsed.managementMetadata,
    units: [...units.values()],
    groups: [...groups.values()],
    objects,
    totalSize,
    warnings: issues.warnings,
  };
}

function link(unit: SipUnit, group: SipObjectGroup): void {
  if (!unit.groupIds.includes(group.id)) unit.groupIds.push(group.id);
  if (!group.unitIds.includes(unit.id)) group.unitIds.push(unit.id);
}

function describeObject(raw: RawObject, groupId: string): SipObject {
  const json = raw.json;
  const formatJson = objectOf(json, 'FormatIdentification');
  const format: FormatDeclared | undefined = formatJson
    ? { formatId: textOf(formatJson, 'FormatId'), mimeType: textOf(formatJson, 'MimeType'), formatLitteral: textOf(formatJson, 'FormatLitteral'), encoding: textOf(formatJson, 'Encoding') }
    : undefined;
  const sizeText = textOf(json, 'Size');
  return {
    id: raw.id,
    groupId,
    kind: raw.kind,
    version: textOf(json, 'DataObjectVersion'),
    declaredSize: sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined,
    format,
    filename: textOf(objectOf(json, 'FileInfo'), 'Filename'),
    physicalId: raw.kind === 'physical' ? textOf(json, 'PhysicalId') : undefined,
    metadata: json,
    line: raw.line,
  };
}

/** Uri is an anyURI: a relative path, perhaps percent-encoded. */
function uriToPath(uri: string): string {
  let path = uri.trim();
  if (/%[0-9A-Fa-f]{2}/.test(path)) {
    try {
      path = decodeURIComponent(path);
    } catch {
      /* keep it as written */
    }
  }
  return path;
}

function titleOf(content: SipUnit['content'] | undefined): string | undefined {
  return textOf(content, 'Title');
}

/** Refuses cycles in the unit graph (iterative DFS, so deep trees do not overflow the stack). */
function checkTree(units: Map<string, SipUnit>, children: Map<string, string[]>, issues: IssueCollector, file: string, maxDepth: number): void {
  const state = new Map<string, 1 | 2>(); // 1 on the path, 2 done
  const depth = new Map<string, number>();
  for (const start of units.keys()) {
    if (state.has(start)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const kids = children.get(top.id) ?? [];
      if (top.next < kids.length) {
        const kid = kids[top.next++];
        const s = state.get(kid);
        if (s === 1) {
          const path = stack.map((f) => f.id);
          const cycle = [...path.slice(path.indexOf(kid)), kid].join(' → ');
          const unit = units.get(kid)!;
          issues.error('UNIT_CYCLE', `the unit tree has a cycle: ${cycle}`, { file, line: unit.line, element: 'ArchiveUnit', id: kid });
          return;
        }
        if (s === undefined) {
          state.set(kid, 1);
          stack.push({ id: kid, next: 0 });
        }
      } else {
        state.set(top.id, 2);
        let d = 1;
        for (const k of kids) d = Math.max(d, (depth.get(k) ?? 1) + 1);
        depth.set(top.id, d);
        if (d > maxDepth) {
          issues.error('UNIT_TREE_TOO_DEEP', `the unit tree is deeper than ${maxDepth} levels`, { file, line: units.get(top.id)!.line, element: 'ArchiveUnit', id: top.id });
          return;
        }
        stack.pop();
      }
    }
  }
}
