import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isPluginClass, type PluginClass, type WorkerPlugin } from './api.ts';
import { parseProperties } from './properties.ts';

/** A plugin that failed to load; the message names the plugin and says why. */
export class PluginLoadError extends Error {
  override name = 'PluginLoadError';
  constructor(
    readonly plugin: string,
    message: string,
  ) {
    super(`plugin ${plugin}: ${message}`);
  }
}

export interface LoadedPlugin {
  name: string;
  /** Where it came from (module path or specifier). */
  module: string;
  builtin: boolean;
  Plugin: PluginClass;
  /** The plugin's own message catalogue (from its properties file). */
  catalogue: Map<string, string>;
}

interface PluginDeclaration {
  module: string;
  propertiesFile?: string;
}

const ACTION_NAME = /^[A-Z][A-Z0-9_]*$/;
const BUILTIN_FILE = fileURLToPath(new URL('./builtin/plugins.json', import.meta.url));
/** Built-in modules are named as sources (`.ts`) in plugins.json; compiled (dist/), they are `.js`. */
const builtinModule = (module: string) => (import.meta.url.endsWith('.js') ? module.replace(/\.ts$/, '.js') : module);

/**
 * Every plugin of a worker, loaded and checked at start-up (seed 004): the built-in actions
 * (themselves plugins, declared in builtin/plugins.json), then the plugins file of the
 * configuration, whose entries replace a built-in of the same name. If one plugin fails (module
 * missing, not a plugin, properties unreadable) loading fails, naming it.
 */
export class PluginRegistry {
  private constructor(private readonly plugins: Map<string, LoadedPlugin>) {}

  static async load(options: { pluginsFile?: string; builtins?: boolean } = {}): Promise<PluginRegistry> {
    const plugins = new Map<string, LoadedPlugin>();
    if (options.builtins !== false) {
      for (const p of await loadPluginsFile(BUILTIN_FILE, true)) plugins.set(p.name, p);
    }
    if (options.pluginsFile) {
      for (const p of await loadPluginsFile(options.pluginsFile, false)) plugins.set(p.name, p);
    }
    return new PluginRegistry(plugins);
  }

  get(action: string): LoadedPlugin | undefined {
    return this.plugins.get(action);
  }

  names(): string[] {
    return [...this.plugins.keys()].sort();
  }

  /** A fresh instance for one call (seed 004: plugins are re-instantiated for every call). */
  create(action: string): { plugin: WorkerPlugin; entry: LoadedPlugin } {
    const entry = this.plugins.get(action);
    if (!entry) throw new Error(`no plugin handles action ${action}`);
    return { plugin: new entry.Plugin(), entry };
  }
}

async function loadPluginsFile(file: string, builtin: boolean): Promise<LoadedPlugin[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PluginLoadError('(plugins file)', `cannot read ${file}: ${(err as Error).message}`);
  }
  let declarations: Record<string, PluginDeclaration>;
  try {
    declarations = JSON.parse(text);
  } catch (err) {
    throw new PluginLoadError('(plugins file)', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!declarations || typeof declarations !== 'object' || Array.isArray(declarations)) {
    throw new PluginLoadError('(plugins file)', `${file} must be a JSON object: {"ACTION_NAME": {"module": "…", "propertiesFile": "…"}}`);
  }
  const base = dirname(resolve(file));
  const out: LoadedPlugin[] = [];
  for (const [name, raw] of Object.entries(declarations)) {
    out.push(await loadOne(name, raw as any, base, builtin));
  }
  return out;
}

async function loadOne(name: string, raw: Record<string, unknown>, base: string, builtin: boolean): Promise<LoadedPlugin> {
  if (!ACTION_NAME.test(name)) throw new PluginLoadError(name, 'a plugin name is an action name in capitals (A-Z, 0-9, _)');
  // Vitam's keys (className, propertyFile) are accepted as aliases.
  const declared = (raw?.module ?? raw?.className) as unknown;
  const module = builtin && typeof declared === 'string' ? builtinModule(declared) : declared;
  const propertiesFile = (raw?.propertiesFile ?? raw?.propertyFile) as unknown;
  if (typeof module !== 'string' || module === '') throw new PluginLoadError(name, 'no "module" given');
  if (propertiesFile !== undefined && typeof propertiesFile !== 'string') throw new PluginLoadError(name, '"propertiesFile" must be a path');
  const isPath = module.startsWith('.') || isAbsolute(module);
  const specifier = isPath ? pathToFileURL(resolve(base, module)).href : module;
  let mod: Record<string, unknown>;
  try {
    mod = await import(specifier);
  } catch (err) {
    throw new PluginLoadError(name, `module ${module} cannot be loaded: ${(err as Error).message.split('\n')[0]}`);
  }
  const Plugin = [mod.default, mod.Plugin].find(isPluginClass);
  if (!Plugin) {
    throw new PluginLoadError(name, `module ${module} is not a plugin: it must export (default or as "Plugin") a class with an execute(io) method`);
  }
  try {
    new Plugin();
  } catch (err) {
    throw new PluginLoadError(name, `module ${module}: the plugin cannot be instantiated: ${(err as Error).message}`);
  }
  let catalogue = new Map<string, string>();
  if (propertiesFile) {
    const path = resolve(base, propertiesFile);
    try {
      catalogue = parseProperties(await readFile(path, 'utf8'));
    } catch (err) {
      throw new PluginLoadError(name, `properties file ${path} cannot be read: ${(err as Error).message}`);
    }
  }
  return { name, module, builtin, Plugin, catalogue };
}
