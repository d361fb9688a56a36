import { text } from 'node:stream/consumers';
import { checkEntryName, type DigestAlgorithm, type UnpackResult, type Workspace, type WorkspaceFile } from '../workspace/index.ts';
import { IssueCollector, SipError } from './errors.ts';
import { ensureDigests, toSedaAlgorithm } from './digests.ts';
import type { JsonObject, JsonValue, SipObject, SipObjectGroup, SipPackage } from './model.ts';
import type { ReadPackageOptions } from './options.ts';

/** Manifest algorithms accepted, strongest first (the strongest becomes the declared digest). */
const BAG_ALGORITHMS: readonly DigestAlgorithm[] = ['sha512', 'sha256', 'sha1', 'md5'];
const NAME_LIMITS = { maxNameLength: 4096, maxSegmentLength: 1024, maxDepth: 1024 };

/** Where the bag starts: the package root, or its single top folder (`mybag/bagit.txt`). */
export function findBagRoot(listing: UnpackResult): string | undefined {
  if (listing.files.some((f) => f.path === 'bagit.txt')) return '';
  const tops = new Set(listing.files.map((f) => f.path.split('/')[0]));
  if (tops.size !== 1) return undefined;
  const [top] = tops;
  return listing.files.some((f) => f.path === `${top}/bagit.txt`) ? `${top}/` : undefined;
}

/** Reads and checks a BagIt 1.0 bag (RFC 8493) already unpacked in the workspace. */
export async function readBag(workspace: Workspace, listing: UnpackResult, root: string, options: Required<ReadPackageOptions>): Promise<SipPackage> {
  const issues = new IssueCollector();
  const files = new Map<string, WorkspaceFile>();
  for (const f of listing.files) files.set(f.path.slice(root.length), f);
  const readTag = async (name: string): Promise<string> => {
    const file = files.get(name)!;
    if (file.size > options.maxTagFileSize) {
      throw SipError.of('TAG_FILE_TOO_LARGE', `tag file of ${file.size} bytes is larger than the ${options.maxTagFileSize} accepted`, { file: root + name });
    }
    return (await text(await workspace.openRead(file.path))).replace(/^\uFEFF/, '');
  };

  // bagit.txt: the declaration.
  const declaration = parseTagFields(await readTag('bagit.txt'));
  const version = first(declaration['BagIt-Version']);
  const encoding = first(declaration['Tag-File-Character-Encoding']);
  if (!version || !/^\d+\.\d+$/.test(version)) {
    throw SipError.of('BAGIT_DECLARATION_INVALID', 'bagit.txt has no valid "BagIt-Version: M.N" line', { file: `${root}bagit.txt` });
  }
  if (!encoding || !/^utf-?8$/i.test(encoding)) {
    throw SipError.of('BAGIT_DECLARATION_INVALID', `bagit.txt must declare "Tag-File-Character-Encoding: UTF-8" (found ${JSON.stringify(encoding ?? '')})`, { file: `${root}bagit.txt` });
  }
  if (files.has('fetch.txt')) {
    throw SipError.of('BAGIT_FETCH_UNSUPPORTED', 'bags that fetch files from elsewhere (fetch.txt) are not accepted: include every payload file', { file: `${root}fetch.txt` });
  }

  // Manifests: manifest-<alg>.txt (payload) and tagmanifest-<alg>.txt (tag files).
  const payloadManifests = new Map<DigestAlgorithm, Map<string, string>>();
  const tagManifests = new Map<DigestAlgorithm, Map<string, string>>();
  for (const name of files.keys()) {
    const m = /^(tag)?manifest-([A-Za-z0-9]+)\.txt$/.exec(name);
    if (!m) continue;
    const alg = m[2].toLowerCase() as DigestAlgorithm;
    if (!BAG_ALGORITHMS.includes(alg)) {
      issues.error('UNKNOWN_DIGEST_ALGORITHM', `manifest algorithm "${m[2]}" is not accepted (md5, sha1, sha256, sha512)`, { file: root + name });
      continue;
    }
    const entries = parseManifest(await readTag(name), root + name, issues, m[1] ? 'tag' : 'payload');
    (m[1] ? tagManifests : payloadManifests).set(alg, entries);
  }
  if (payloadManifests.size === 0) {
    throw SipError.of('BAGIT_MANIFEST_MISSING', 'the bag has no payload manifest (manifest-<algorithm>.txt)', { file: root || '.' });
  }
  issues.throwIfAny();

  const payload = [...files.keys()].filter((p) => p.startsWith('data/'));
  const algorithms = [...payloadManifests.keys()];
  for (const [alg, entries] of payloadManifests) {
    for (const path of entries.keys()) {
      if (!files.has(path)) issues.error('DECLARED_FILE_MISSING', `"${path}" is listed but not in the bag`, { file: `${root}manifest-${alg}.txt` });
    }
  }
  for (const path of payload) {
    for (const alg of algorithms) {
      if (!payloadManifests.get(alg)!.has(path)) issues.error('UNDECLARED_FILE', `payload file not listed in manifest-${alg}.txt`, { file: root + path });
    }
  }
  issues.throwIfAny();

  // Digests of the payload (each file read at most once more, for the algorithms the unpack did not compute).
  let totalSize = 0;
  const objects: SipObject[] = [];
  const groups: SipObjectGroup[] = [];
  const strongest = BAG_ALGORITHMS.find((a) => payloadManifests.has(a))!;
  for (const [i, path] of payload.entries()) {
    const file = files.get(path)!;
    totalSize += file.size;
    if (options.checkDigests) {
      await ensureDigests(workspace, file, algorithms);
      for (const alg of algorithms) {
        const declared = payloadManifests.get(alg)!.get(path)!;
        if (file.digests[alg] !== declared) {
          issues.error('DIGEST_MISMATCH', `${alg} is ${file.digests[alg]}, manifest-${alg}.txt declares ${declared}`, { file: root + path });
        }
      }
    }
    const n = String(i + 1).padStart(String(payload.length).length, '0');
    const objectId = `object-${n}`;
    const groupId = `group-${n}`;
    const manifests: JsonObject = {};
    for (const alg of algorithms) manifests[alg] = payloadManifests.get(alg)!.get(path)!;
    const algorithm = toSedaAlgorithm(strongest);
    objects.push({
      id: objectId, groupId, kind: 'binary', version: 'BinaryMaster_1', path: file.path, size: file.size,
      declaredDigest: { algorithm, value: manifests[strongest] as string },
      computedDigest: file.digests[strongest] ? { algorithm, value: file.digests[strongest]! } : undefined,
      filename: path.slice(path.lastIndexOf('/') + 1),
      metadata: { path: path.slice('data/'.length), manifests },
    });
    groups.push({ id: groupId, objectIds: [objectId], unitIds: ['bag'], implicit: false });
  }
  for (const [alg, entries] of tagManifests) {
    for (const [path, declared] of entries) {
      const file = files.get(path);
      if (!file) {
        issues.error('DECLARED_FILE_MISSING', `tag file "${path}" is listed but not in the bag`, { file: `${root}tagmanifest-${alg}.txt` });
        continue;
      }
      if (!options.checkDigests) continue;
      await ensureDigests(workspace, file, [alg]);
      if (file.digests[alg] !== declared) issues.error('DIGEST_MISMATCH', `${alg} is ${file.digests[alg]}, tagmanifest-${alg}.txt declares ${declared}`, { file: root + path });
    }
  }

  // bag-info.txt: descriptive metadata, and the Payload-Oxum quick check.
  const info = files.has('bag-info.txt') ? parseTagFields(await readTag('bag-info.txt')) : {};
  const oxum = first(info['Payload-Oxum']);
  if (oxum !== undefined) {
    const m = /^(\d+)\.(\d+)$/.exec(oxum.trim());
    if (!m) issues.error('PAYLOAD_OXUM_MISMATCH', `Payload-Oxum "${oxum}" is not <octets>.<files>`, { file: `${root}bag-info.txt` });
    else if (Number(m[1]) !== totalSize || Number(m[2]) !== payload.length) {
      issues.error('PAYLOAD_OXUM_MISMATCH', `Payload-Oxum declares ${m[1]} bytes in ${m[2]} files, the payload has ${totalSize} bytes in ${payload.length} files`, { file: `${root}bag-info.txt` });
    }
  }
  issues.throwIfAny();

  const bagName = root ? root.slice(0, -1) : undefined;
  const title = first(info['Title']) ?? first(info['External-Description']) ?? first(info['External-Identifier']) ?? bagName ?? 'bag';
  return {
    kind: 'bagit',
    version,
    manifestPath: `${root}bagit.txt`,
    header: declaration,
    units: [{ id: 'bag', parentIds: [], title, content: { Title: title, ...info }, groupIds: groups.map((g) => g.id) }],
    groups,
    objects,
    totalSize,
    warnings: issues.warnings,
  };
}

/** `Label: value` lines, a line starting with white space continuing the previous value (RFC 8493 §2.2.2). */
export function parseTagFields(content: string): JsonObject {
  const out: JsonObject = {};
  let last: { label: string; index: number } | undefined;
  for (const line of content.split(/\r\n|\r|\n/)) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line) && last) {
      const v = out[last.label];
      if (Array.isArray(v)) v[last.index] = `${v[last.index]} ${line.trim()}`;
      else out[last.label] = `${v} ${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const label = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    const existing = out[label];
    if (existing === undefined) {
      out[label] = value;
      last = { label, index: 0 };
    } else if (Array.isArray(existing)) {
      existing.push(value);
      last = { label, index: existing.length - 1 };
    } else {
      out[label] = [existing as JsonValue, value];
      last = { label, index: 1 };
    }
  }
  return out;
}

function parseManifest(content: string, file: string, issues: IssueCollector, kind: 'payload' | 'tag'): Map<string, string> {
  const entries = new Map<string, string>();
  content.split(/\r\n|\r|\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([0-9A-Fa-f]+)[ \t]+(.+)$/.exec(line);
    const where = { file, line: i + 1 };
    if (!m) return issues.error('BAGIT_MANIFEST_INVALID', 'line is not "<checksum> <path>"', where);
    const path = m[2].replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%').replace(/^\.\//, '');
    try {
      checkEntryName(path, NAME_LIMITS);
    } catch (err) {
      return issues.error('UNSAFE_NAME', `path "${path}" is unsafe: ${(err as Error).message.replace(/^"[^"]*": /, '')}`, where);
    }
    if (kind === 'payload' && !path.startsWith('data/')) return issues.error('BAGIT_MANIFEST_INVALID', `payload path "${path}" is not under data/`, where);
    if (kind === 'tag' && path.startsWith('data/')) return issues.error('BAGIT_MANIFEST_INVALID', `tag manifest lists payload file "${path}"`, where);
    if (entries.has(path)) return issues.error('BAGIT_MANIFEST_INVALID', `"${path}" is listed twice`, where);
    entries.set(path, m[1].toLowerCase());
  });
  return entries;
}

function first(v: JsonValue | undefined): string | undefined {
  const f = Array.isArray(v) ? v[0] : v;
  return typeof f === 'string' ? f : undefined;
}
