import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { SipError, type SipLocation } from './errors.ts';
import { JsonBuilder } from './xmljson.ts';
import type { JsonObject } from './model.ts';

export const SEDA_NAMESPACES = {
  'fr:gouv:culture:archivesdefrance:seda:v2.1': '2.1',
  'fr:gouv:culture:archivesdefrance:seda:v2.2': '2.2',
  'fr:gouv:culture:archivesdefrance:seda:v2.3': '2.3',
} as const;
export type SedaVersion = (typeof SEDA_NAMESPACES)[keyof typeof SEDA_NAMESPACES];
const SEDA_PREFIX = 'fr:gouv:culture:archivesdefrance:seda:';

export interface RawObject {
  id: string;
  kind: 'binary' | 'physical';
  line: number;
  json: JsonObject;
  /** Group declared by a DataObjectGroup parent or a DataObjectGroupId child. */
  groupId?: string;
  /** Group referenced by a DataObjectGroupReferenceId child (SEDA 2.1 style). */
  groupRef?: string;
  inlineAttachment: boolean;
}

export interface RawReference {
  ref: string;
  line: number;
}

export interface RawUnit {
  id: string;
  line: number;
  /** Enclosing ArchiveUnit (nesting). */
  parentId?: string;
  /** ArchiveUnitRefId: this element only points at another unit. */
  refId?: string;
  content?: JsonObject;
  management?: JsonObject;
  groupRefs: RawReference[];
  objectRefs: RawReference[];
}

export interface ParsedManifest {
  version: SedaVersion;
  header: JsonObject;
  managementMetadata?: JsonObject;
  groups: Array<{ id: string; line: number }>;
  objects: RawObject[];
  units: RawUnit[];
}

export interface ParseLimits {
  maxXmlDepth: number;
  maxXmlText: number;
  /** Called once the root element gives the SEDA version (e.g. to start the XSD validation meanwhile). */
  onVersion?: (version: SedaVersion) => void;
}

type Capture = { builder: JsonBuilder; done: (json: JsonObject) => void };

/**
 * Streams manifest.xml through saxes once: no DOM, no DTD (a DOCTYPE is refused, so no entity
 * is ever expanded or fetched), and builds the raw declarations the checks work on.
 */
export async function parseSedaManifest(source: string | { file: string; start: number; size: number }, file: string, limits: ParseLimits): Promise<ParsedManifest> {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const at = (element?: string, id?: string): SipLocation => ({ file, line: parser.line, element, id });
  const stack: string[] = [];
  let version: SedaVersion | undefined;
  const header: JsonObject = {};
  const result: Omit<ParsedManifest, 'version'> = { header, groups: [], objects: [], units: [] };
  let capture: Capture | undefined;
  let currentGroup: string | undefined;
  let currentObject: RawObject | undefined;
  let inAttachment = false;
  const unitStack: RawUnit[] = [];
  let textTarget: ((text: string) => void) | undefined;
  let text = '';

  const startCapture = (tag: SaxesTagNS, done: (json: JsonObject) => void) => {
    capture = { builder: new JsonBuilder(limits.maxXmlText), done };
    capture.builder.open(tag.local, plainAttributes(tag));
  };

  parser.on('doctype', () => {
    throw SipError.of('DOCTYPE_REFUSED', 'a DOCTYPE is not accepted in a manifest (no DTD, no entity is processed)', at());
  });

  parser.on('opentag', (tag) => {
    stack.push(tag.local);
    const depth = stack.length;
    if (depth > limits.maxXmlDepth) throw SipError.of('MANIFEST_MALFORMED', `elements nested deeper than ${limits.maxXmlDepth} levels`, at(tag.local));
    if (capture) {
      capture.builder.open(tag.local, plainAttributes(tag));
      if (currentObject && tag.local === 'Attachment') inAttachment = true;
      return;
    }
    if (depth === 1) {
      version = sedaVersionOf(tag, at(tag.local));
      limits.onVersion?.(version);
      return;
    }
    const parent = stack[depth - 2];
    const id = attr(tag, 'id');
    if (depth === 2 && tag.local !== 'DataObjectPackage') {
      startCapture(tag, (json) => addTo(header, tag.local, json));
    } else if (parent === 'DataObjectPackage' && tag.local === 'DataObjectGroup') {
      currentGroup = id ?? '';
      result.groups.push({ id: currentGroup, line: parser.line });
    } else if ((tag.local === 'BinaryDataObject' || tag.local === 'PhysicalDataObject') && (parent === 'DataObjectPackage' || parent === 'DataObjectGroup')) {
      const object: RawObject = {
        id: id ?? '', kind: tag.local === 'BinaryDataObject' ? 'binary' : 'physical', line: parser.line, json: {},
        groupId: parent === 'DataObjectGroup' ? currentGroup : undefined, inlineAttachment: false,
      };
      currentObject = object;
      startCapture(tag, (json) => {
        object.json = json;
        const declaredGroup = textValue(json.DataObjectGroupId);
        const groupRef = textValue(json.DataObjectGroupReferenceId);
        if (declaredGroup) object.groupId = declaredGroup;
        if (groupRef) object.groupRef = groupRef;
        result.objects.push(object);
        currentObject = undefined;
      });
    } else if (tag.local === 'ManagementMetadata' && parent === 'DataObjectPackage') {
      startCapture(tag, (json) => (result.managementMetadata = json));
    } else if (tag.local === 'ArchiveUnit' && (parent === 'DescriptiveMetadata' || parent === 'ArchiveUnit')) {
      const unit: RawUnit = { id: id ?? '', line: parser.line, parentId: unitStack[unitStack.length - 1]?.id, groupRefs: [], objectRefs: [] };
      unitStack.push(unit);
      result.units.push(unit);
    } else if (parent === 'ArchiveUnit' && unitStack.length > 0) {
      const unit = unitStack[unitStack.length - 1];
      if (tag.local === 'Content') startCapture(tag, (json) => (unit.content = json));
      else if (tag.local === 'Management') startCapture(tag, (json) => (unit.management = json));
      else if (tag.local === 'ArchiveUnitRefId') textTarget = (t) => (unit.refId = t);
    } else if (parent === 'DataObjectReference' && unitStack.length > 0) {
      const unit = unitStack[unitStack.length - 1];
      const line = parser.line;
      if (tag.local === 'DataObjectGroupReferenceId') textTarget = (t) => unit.groupRefs.push({ ref: t, line });
      else if (tag.local === 'DataObjectReferenceId') textTarget = (t) => unit.objectRefs.push({ ref: t, line });
    }
    text = '';
  });

  const onText = (t: string) => {
    if (capture) {
      if (inAttachment) {
        if (currentObject && t.trim() !== '') currentObject.inlineAttachment = true;
      } else if (!capture.builder.text(t)) {
        throw SipError.of('MANIFEST_MALFORMED', `text longer than ${limits.maxXmlText} characters`, at(stack[stack.length - 1]));
      }
    } else if (textTarget) {
      text += t;
      if (text.length > limits.maxXmlText) throw SipError.of('MANIFEST_MALFORMED', `text longer than ${limits.maxXmlText} characters`, at(stack[stack.length - 1]));
    }
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  parser.on('closetag', (tag) => {
    stack.pop();
    if (capture) {
      if (tag.local === 'Attachment') inAttachment = false;
      capture.builder.close();
      if (capture.builder.depth === 0) {
        const { done, builder } = capture;
        capture = undefined;
        done(builder.result!);
      }
      return;
    }
    if (textTarget) {
      textTarget(text.trim());
      textTarget = undefined;
      text = '';
    }
    if (tag.local === 'ArchiveUnit' && unitStack.length > 0) unitStack.pop();
    else if (tag.local === 'DataObjectGroup') currentGroup = undefined;
  });

  const src = typeof source === 'string' ? { file: source, start: 0, size: Infinity } : source;
  const stream = src.size === 0 ? Readable.from([]) : createReadStream(src.file, { encoding: 'utf8', start: src.start, end: src.size === Infinity ? undefined : src.start + src.size - 1, highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream) parser.write(chunk as string);
    parser.close();
  } catch (err) {
    stream.destroy();
    if (err instanceof SipError) throw err;
    throw SipError.of('MANIFEST_MALFORMED', `not well-formed XML: ${(err as Error).message.replace(/^[^:]*:(\d+:\d+:)?\s*/, '')}`, at());
  }
  if (!version) throw SipError.of('MANIFEST_MALFORMED', 'the manifest has no root element', { file });
  return { version, ...result };
}

function sedaVersionOf(tag: SaxesTagNS, where: SipLocation): SedaVersion {
  const version = (SEDA_NAMESPACES as Record<string, SedaVersion>)[tag.uri];
  if (version === undefined) {
    if (tag.uri.startsWith(SEDA_PREFIX)) {
      throw SipError.of('UNSUPPORTED_SEDA_VERSION', `SEDA namespace "${tag.uri}" is not supported (supported: SEDA 2.1, 2.2, 2.3)`, where);
    }
    throw SipError.of('MANIFEST_MALFORMED', `root element is {${tag.uri}}${tag.local}, not a SEDA ArchiveTransfer`, where);
  }
  if (tag.local !== 'ArchiveTransfer') {
    throw SipError.of('MANIFEST_MALFORMED', `root element is ${tag.local}, expected ArchiveTransfer`, where);
  }
  return version;
}

function attr(tag: SaxesTagNS, local: string): string | undefined {
  for (const a of Object.values(tag.attributes)) if (a.local === local && a.uri === '') return a.value;
  return undefined;
}

function plainAttributes(tag: SaxesTagNS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of Object.values(tag.attributes)) if (a.prefix !== 'xmlns' && a.name !== 'xmlns') out[a.local] = a.value;
  return out;
}

function textValue(v: unknown): string | undefined {
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' && first.trim() !== '' ? first.trim() : undefined;
}

function addTo(obj: JsonObject, key: string, value: JsonObject): void {
  const v = Object.keys(value).length === 1 && typeof value['#text'] === 'string' ? value['#text'] : value;
  const existing = obj[key];
  if (existing === undefined) obj[key] = v;
  else if (Array.isArray(existing)) existing.push(v);
  else obj[key] = [existing, v];
}
