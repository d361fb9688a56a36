import { startPlatform, type RunningPlatform } from '../../src/platform/index.ts';
import type { CoffreConfigInput } from '../../src/config/index.ts';
import { signInstanceToken } from '../../src/auth/index.ts';
import { gatewayComponent } from '../../src/gateway/component.ts';
import { testConfig, type TestDatabase } from '../helpers/db.ts';

export interface GatewayTestPlatform extends RunningPlatform {
  token(options: { space?: string; admin?: boolean; ttlSeconds?: number }): Promise<string>;
  close(): Promise<void>;
  files: string;
  staging: string;
}

/**
 * The platform (one HTTP server, database, bus, auth) with the gateway component only, so that
 * these suites do not depend on the state of the other components.
 */
export async function startGateway(database: TestDatabase['name'] = 'sqlite', overrides: Partial<CoffreConfigInput> = {}): Promise<GatewayTestPlatform> {
  const { config, cleanup } = await testConfig(database, overrides);
  const platform = await startPlatform(config, { components: [gatewayComponent] });
  return {
    ...platform,
    files: `${platform.url}/files/`,
    staging: config.gateway.stagingDir ?? `${config.dataDir}/staging`,
    token: (o) => signInstanceToken(platform.ctx.instanceKey, config.auth, { ttlSeconds: 3600, ...o }),
    close: async () => {
      await platform.stop();
      await cleanup();
    },
  };
}
