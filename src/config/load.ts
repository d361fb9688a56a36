import { readFileSync } from 'node:fs';
import { resolve, extname } from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { configSchema, type CoffreConfig } from './schema.ts';

const require = createRequire(import.meta.url);
/** The YAML parser, loaded only for a YAML file (~3 MB of RSS a JSON or default configuration never needs). */
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

/**
 * COFFRE_* variables that are not configuration keys: the file's path, the client commands'
 * server and token, bin/coffre.js's choice of the sources over dist/, and the test and benchmark
 * harnesses' own settings.
 */
const NOT_CONFIG = /^COFFRE_(CONFIG|URL|TOKEN|UPLOAD_STATE|FROM_SOURCE|TEST_.*|BENCH_.*)$/;

/** A configuration that cannot be used; the message names the key and the fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  /** Path of a YAML or JSON file (`--config`). */
  file?: string;
  /** Environment to read `COFFRE_*` overrides from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as a partial config tree; they win over everything. */
  overrides?: Record<string, unknown>;
}

/**
 * Loads the configuration: file, then `COFFRE_*` environment variables, then flags.
 * Environment names map onto the tree by matching schema keys: COFFRE_DATABASE_URL →
 * database.url, COFFRE_GATEWAY_MAX_UPLOAD_SIZE → gateway.maxUploadSize.
 */
export function loadConfig(options: LoadOptions = {}): CoffreConfig {
  const env = options.env ?? process.env;
  let tree: Record<string, unknown> = {};
  const file = options.file ?? env.COFFRE_CONFIG;
  if (file) tree = readConfigFile(file);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('COFFRE_') || value === undefined || NOT_CONFIG.test(name)) continue;
    const path = envPath(name.slice('COFFRE_'.length));
    if (!path) throw new ConfigError(`environment variable ${name} does not name a configuration key`);
    setPath(tree, path, parseEnvValue(value));
  }
  if (options.overrides) deepMerge(tree, options.overrides);
  return parseConfig(tree);
}

/** Validates a configuration tree; errors name every bad key. */
export function parseConfig(tree: unknown): CoffreConfig {
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  return config;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
  }
  try {
    const value = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
    if (value === null || value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the top level must be a mapping');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`configuration file ${file} is malformed: ${(err as Error).message}`);
  }
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Unwraps defaults, optionals and pipes down to the schema that holds the shape. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: any = schema;
  for (let i = 0; i < 10 && s; i++) {
    const def = s._zod?.def;
    if (!def) return undefined;
    if (def.type === 'object') return def.shape;
    s = def.innerType ?? def.in ?? undefined;
  }
  return undefined;
}

const camel = (words: string[]) =>
  words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase())).join('');

/** Maps "GATEWAY_MAX_UPLOAD_SIZE" onto ["gateway", "maxUploadSize"] using the schema's keys. */
function envPath(rest: string): string[] | undefined {
  const words = rest.split('_').filter(Boolean);
  const walk = (schema: z.ZodType, from: number): string[] | undefined => {
    if (from === words.length) return [];
    const shape = objectShape(schema);
    if (!shape) return undefined;
    for (let end = words.length; end > from; end--) {
      const key = camel(words.slice(from, end));
      const child = shape[key];
      if (!child) continue;
      if (end === words.length) return [key];
      const tail = walk(child, end);
      if (tail) return [key, ...tail];
    }
    return undefined;
  };
  return walk(configSchema, 0);
}

function setPath(tree: Record<string, unknown>, path: string[], value: unknown) {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>) {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    if (value && typeof value === 'object' && !Array.isArray(value) && existing && typeof existing === 'object' && !Array.isArray(existing)) {
      deepMerge(existing as Record<string, unknown>, value as Record<string, unknown>);
    } else {
      target[key] = value;
    }
  }
}
