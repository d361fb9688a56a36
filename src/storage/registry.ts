import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Driver } from './contract.ts';
import { driver as fsDriver } from './drivers/fs/index.ts';

/**
 * The drivers the engine can use: `fs` (built in), `s3` and `swift` (built in, imported only when
 * an offer uses them), external modules named in `storage.drivers`, and drivers handed in by code
 * (tests). Every driver is checked against the contract before use.
 */

/** A driver that cannot be used; start-up is refused with this message. */
export class DriverLoadError extends Error {
  override name = 'DriverLoadError';
}

// Literal import() calls, so that a bundler (the benchmarks' esbuild build) carries them too.
const BUILT_IN_LAZY: Record<string, { path: string; load: () => Promise<Record<string, unknown>> }> = {
  s3: { path: 'src/storage/drivers/s3/index.ts', load: () => import('./drivers/s3/index.ts') },
  swift: { path: 'src/storage/drivers/swift/index.ts', load: () => import('./drivers/swift/index.ts') },
};

const CAPABILITIES = ['ranges', 'capacity', 'cachedDigest', 'writeLog', 'watch'] as const;

/** Why a value is not a Driver (undefined when it is one). */
export function contractFault(value: unknown, expectedName?: string): string | undefined {
  if (!value || typeof value !== 'object') return 'it does not export `driver` (an object implementing the Driver contract)';
  const d = value as Record<string, unknown>;
  if (typeof d.name !== 'string' || !d.name) return 'driver.name is missing';
  if (expectedName && d.name !== expectedName) return `driver.name is "${d.name}" but the configuration calls it "${expectedName}"`;
  if (typeof d.version !== 'string' || !d.version) return 'driver.version is missing';
  const caps = d.capabilities as Record<string, unknown> | undefined;
  if (!caps || typeof caps !== 'object') return 'driver.capabilities is missing';
  for (const c of CAPABILITIES) if (typeof caps[c] !== 'boolean') return `driver.capabilities.${c} must be true or false`;
  if (typeof d.isAvailable !== 'function') return 'driver.isAvailable is not a function';
  if (typeof d.connect !== 'function') return 'driver.connect is not a function';
  return undefined;
}

async function importDriver(specifier: string | (() => Promise<Record<string, unknown>>), label: string, expectedName: string): Promise<Driver> {
  let mod: Record<string, unknown>;
  try {
    mod = typeof specifier === 'string' ? await import(specifier) : await specifier();
  } catch (err) {
    throw new DriverLoadError(`driver "${expectedName}": cannot load module ${label}: ${(err as Error).message.split('\n')[0]}`);
  }
  const candidate = mod.driver ?? (mod.default as Record<string, unknown> | undefined)?.driver ?? mod.default;
  const fault = contractFault(candidate, expectedName);
  if (fault) throw new DriverLoadError(`driver "${expectedName}" from module ${label} does not meet the driver contract: ${fault}`);
  return candidate as Driver;
}

export class DriverRegistry {
  private readonly drivers = new Map<string, Driver>([['fs', fsDriver]]);

  constructor(private readonly external: Record<string, string> = {}, private readonly baseDir = process.cwd(), extra: Driver[] = []) {
    for (const d of extra) {
      const fault = contractFault(d);
      if (fault) throw new DriverLoadError(`driver "${(d as { name?: string })?.name}" does not meet the driver contract: ${fault}`);
      this.drivers.set(d.name, d);
    }
  }

  /** Loads every driver the given names need; fails naming the module and the reason. */
  async load(names: Iterable<string>): Promise<void> {
    for (const name of Object.keys(this.external)) {
      if (this.drivers.has(name)) continue;
      const path = this.external[name];
      const abs = isAbsolute(path) || path.startsWith('.') ? resolve(this.baseDir, path) : undefined;
      const specifier = abs ? pathToFileURL(abs).href : path; // bare names resolve as packages
      this.drivers.set(name, await importDriver(specifier, abs ?? path, name));
    }
    for (const name of new Set(names)) {
      if (this.drivers.has(name)) continue;
      const lazy = BUILT_IN_LAZY[name];
      if (!lazy) throw new DriverLoadError(`no driver named "${name}": built-in drivers are fs, s3 and swift; others must be listed under storage.drivers`);
      this.drivers.set(name, await importDriver(lazy.load, lazy.path, name));
    }
  }

  get(name: string): Driver {
    const d = this.drivers.get(name);
    if (!d) throw new DriverLoadError(`driver "${name}" is not loaded`);
    return d;
  }
}
