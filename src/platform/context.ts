import type { FastifyInstance } from 'fastify';
import type { CoffreConfig } from '../config/index.ts';
import type { CoffreDb } from '../db/index.ts';
import type { Bus } from '../bus/index.ts';
import type { InstanceKey, TokenVerifier } from '../auth/index.ts';
import type { Logger } from '../log/index.ts';

/** What every component receives: shared services, never another component's internals. */
export interface PlatformContext {
  config: CoffreConfig;
  cdb: CoffreDb;
  bus: Bus;
  log: Logger;
  instanceKey: InstanceKey;
  verifier: TokenVerifier;
  /** Services that components publish for others (e.g. `storage` → the storage engine). */
  services: Map<string, unknown>;
}

/**
 * A part of `coffre serve`. Components start in the order they are listed, may add routes to
 * the one HTTP server, and stop in reverse order.
 */
export interface Component {
  name: string;
  start?(ctx: PlatformContext): Promise<void>;
  routes?(app: FastifyInstance, ctx: PlatformContext): Promise<void> | void;
  /** Runs once the HTTP server listens (with its address). */
  ready?(ctx: PlatformContext, baseUrl: string): Promise<void> | void;
  stop?(): Promise<void>;
}
