import { z } from 'zod';
import { gatewayConfigSchema } from '../gateway/config.ts';
import { storageConfigSchema } from '../storage/config.ts';
import { logbookConfigSchema } from '../logbook/config.ts';
import { ingestConfigSchema } from '../ingest/config.ts';
import { workspaceConfigSchema } from '../workspace/config.ts';
import { sipConfigSchema } from '../sip/config.ts';

/**
 * The whole configuration. Each component owns its section's schema in its own folder;
 * this file only assembles them. Every limit has a safe default.
 */
export const configSchema = z
  .object({
    dataDir: z.string().default('./data'),
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8700),
        /** Public base URL printed for clients; defaults to http://host:port. */
        publicUrl: z.string().url().optional(),
      })
      .prefault({}),
    database: z
      .object({
        /** postgres://… for PostgreSQL; empty means SQLite at <dataDir>/coffre.db. */
        url: z.string().optional(),
        poolSize: z.number().int().positive().default(10),
      })
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
    auth: z
      .object({
        /** JWT claim naming the depositor's space (goup's `goup-path`). */
        spaceClaim: z.string().min(1).default('goup-path'),
        /** JWT claim that, when true, grants admin rights. */
        adminClaim: z.string().min(1).default('coffre-admin'),
        /** Extra verification keys, besides the instance key in <dataDir>/keys. */
        hs256Secret: z.string().min(32, 'an HS256 secret needs at least 32 characters').optional(),
        publicKeyFiles: z.array(z.string()).default([]),
        jwksFile: z.string().optional(),
        /** Tokens signed with these algorithms are accepted; `none` never is. */
        algorithms: z.array(z.enum(['HS256', 'RS256', 'ES256', 'EdDSA'])).default(['HS256', 'RS256', 'ES256', 'EdDSA']),
        clockToleranceSeconds: z.number().int().nonnegative().default(5),
      })
      .prefault({}),
    bus: z
      .object({
        /** How often subscribers look at the outbox when no wake-up arrives. */
        pollIntervalMs: z.number().int().positive().default(1000),
      })
      .prefault({}),
    gateway: gatewayConfigSchema,
    storage: storageConfigSchema,
    logbook: logbookConfigSchema,
    ingest: ingestConfigSchema,
    workspace: workspaceConfigSchema,
    sip: sipConfigSchema,
  })
  .strict();

export type CoffreConfig = z.output<typeof configSchema>;
export type CoffreConfigInput = z.input<typeof configSchema>;
