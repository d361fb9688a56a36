import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML, memoryPages, type XMLFileInfo } from 'xmllint-wasm';
import type { SipIssue } from './errors.ts';
import type { SedaVersion } from './seda-parse.ts';

/** The repository's unchanged copies of the standard schemas (see standards/README.md). */
export const DEFAULT_STANDARDS_DIR = fileURLToPath(new URL('../../standards', import.meta.url));

/**
 * The SEDA schemas import the W3C ones by absolute URL; xmllint-wasm's in-memory filesystem
 * serves the local copies under exactly those names, so nothing is fetched.
 */
const W3C_IMPORTS: Record<string, string> = {
  'http://www.w3.org/2001/xml.xsd': 'xml.xsd',
  'http://www.w3.org/1999/xlink.xsd': 'xlink.xsd',
};

interface SchemaSet {
  main: XMLFileInfo;
  preload: XMLFileInfo[];
}

const cache = new Map<string, Promise<SchemaSet>>();

function loadSchemas(standardsDir: string, version: SedaVersion): Promise<SchemaSet> {
  const key = `${standardsDir}\0${version}`;
  let set = cache.get(key);
  if (!set) {
    set = (async () => {
      const dir = join(standardsDir, 'seda', version);
      const preload: XMLFileInfo[] = [];
      let main: XMLFileInfo | undefined;
      for (const name of (await readdir(dir)).filter((n) => n.endsWith('.xsd')).sort()) {
        const file = { fileName: name, contents: await readFile(join(dir, name), 'utf8') };
        if (name === `seda-${version}-main.xsd`) main = file;
        else preload.push(file);
      }
      if (!main) throw new Error(`seda-${version}-main.xsd not found in ${dir}`);
      for (const [url, name] of Object.entries(W3C_IMPORTS)) {
        preload.push({ fileName: url, contents: await readFile(join(standardsDir, 'w3c', name), 'utf8') });
      }
      return { main, preload };
    })();
    set.catch(() => cache.delete(key));
    cache.set(key, set);
  }
  return set;
}

/**
 * Validates a manifest against the official XSD of its SEDA version. Returns the problems found
 * (empty when valid), each with its line. Throws only on a technical failure of the validator.
 */
export async function validateSedaSchema(manifest: Buffer, fileName: string, version: SedaVersion, standardsDir = DEFAULT_STANDARDS_DIR): Promise<SipIssue[]> {
  const { main, preload } = await loadSchemas(standardsDir, version);
  // Streaming validation (xmllint --stream: a reader, no document tree): the worker's memory is
  // the document's bytes and the schemas, not a tree ~15× the document (10 MiB manifest: 45 MiB
  // less at the peak; 50 MiB: 170 MiB less), with the same errors and lines. The worker thread
  // ends with the validation (xmllint-wasm terminates it).
  const pages = Math.min(memoryPages.max, Math.max(memoryPages.defaultMaxMemoryPages, Math.ceil((64 * 2 ** 20 + manifest.length * 4) / (64 * 1024))));
  const result = await validateXML({
    xml: { fileName, contents: manifest },
    schema: main,
    preload,
    maxMemoryPages: pages,
    stream: true,
  });
  if (result.valid) return [];
  return result.errors.map((e) => ({
    code: 'SCHEMA_INVALID' as const,
    message: `not valid against the SEDA ${version} schema: ${e.message.replace(/^\s*Schemas validity error\s*:\s*/i, '').trim()}`,
    where: { file: fileName, line: e.loc?.lineNumber },
  }));
}
