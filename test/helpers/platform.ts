import { startPlatform, type RunningPlatform } from '../../src/platform/index.ts';
import type { CoffreConfigInput } from '../../src/config/index.ts';
import { signInstanceToken } from '../../src/auth/index.ts';
import { testConfig, type TestDatabase } from './db.ts';

export interface TestPlatform extends RunningPlatform {
  /** A token for a space (or an admin token). */
  token(options: { space?: string; admin?: boolean; ttlSeconds?: number }): Promise<string>;
  close(): Promise<void>;
}

/** Starts the whole platform in this process on a free port over a fresh data folder and database. */
export async function startTestPlatform(database: TestDatabase['name'] = 'sqlite', overrides: Partial<CoffreConfigInput> = {}): Promise<TestPlatform> {
  const { config, cleanup } = await testConfig(database, overrides);
  const platform = await startPlatform(config);
  return {
    ...platform,
    token: (o) => signInstanceToken(platform.ctx.instanceKey, config.auth, { ttlSeconds: 3600, ...o }),
    close: async () => {
      await platform.stop();
      await cleanup();
    },
  };
}
