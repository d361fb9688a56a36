import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Catalogue = Map<string, string>;

/**
 * Parses a Java `.properties` file (UTF-8, as Java 9+ resource bundles): `key=value` or
 * `key: value`, `#`/`!` comments, `\` line continuations, `\uXXXX` and `\n`-style escapes.
 */
export function parseProperties(text: string): Catalogue {
  const out: Catalogue = new Map();
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].replace(/^\s+/, '');
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    // Join continuation lines (an odd number of trailing backslashes).
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i].replace(/^\s+/, '');
    let k = 0;
    let key = '';
    while (k < line.length) {
      const ch = line[k];
      if (ch === '\\' && k + 1 < line.length) {
        key += line.slice(k, k + 2);
        k += 2;
        continue;
      }
      if (ch === '=' || ch === ':' || /\s/.test(ch)) break;
      key += ch;
      k++;
    }
    let rest = line.slice(k).replace(/^\s*/, '');
    if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1).replace(/^\s*/, '');
    out.set(unescape(key), unescape(rest));
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e[0] === 'u' && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === 'f' ? '\f' : e;
  });
}

export function loadCatalogueFile(path: string): Catalogue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read message catalogue ${path}: ${(err as Error).message}`);
  }
  return parseProperties(text);
}

const here = dirname(fileURLToPath(import.meta.url));

/** The default catalogue shipped with Coffre for a language. */
export function defaultCatalogue(language: 'fr' | 'en'): Catalogue {
  return loadCatalogueFile(join(here, 'messages', `logbook-messages_${language}.properties`));
}

/**
 * Fills placeholders: `{0}`, `{1}`… (positional, as Vitam's MessageFormat texts) and `{name}`
 * (named), both from `params` (positional ones under keys "0", "1"…). A placeholder without a
 * value stays as written, so that a missing parameter shows instead of vanishing.
 */
export function fillPlaceholders(template: string, params?: Record<string, unknown>): string {
  if (!params) return template;
  return template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (whole, name: string) => {
    const v = params[name];
    if (v === undefined || v === null) return whole;
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

/**
 * Looks a code up: the default catalogue first, then the plugin's (Vitam's order, seed 004);
 * a lifecycle code `LFC.X…` also tries `X…`. Unknown codes read as the code itself.
 */
export class MessageCatalogues {
  constructor(private readonly catalogues: Catalogue[]) {}

  lookup(code: string, plugin?: Catalogue): string | undefined {
    // Seed 004 writes a parent lifecycle event's detail as `LFC.CHECK_DIGEST..OK` (empty subtask).
    const norm = code.replace(/\.{2,}/g, '.');
    const candidates = norm.startsWith('LFC.') ? [norm, norm.slice(4)] : [norm];
    for (const c of candidates) {
      for (const cat of this.catalogues) {
        const v = cat.get(c);
        if (v !== undefined) return v;
      }
      const v = plugin?.get(c);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  message(code: string, params?: Record<string, unknown>, plugin?: Catalogue): string {
    return fillPlaceholders(this.lookup(code, plugin) ?? code, params);
  }
}
