import { z } from 'zod';
import { duration } from '../config/units.ts';

/** Ingest, workflow and worker settings (`ingest:`). */
export const ingestConfigSchema = z
  .object({
    /** Plugins file (JSON: action name → {module, propertiesFile}); empty means built-ins only. */
    pluginsFile: z.string().optional(),
    /** Workflow definition used for ingests; empty means the built-in workflows/ingest.json. */
    workflowFile: z.string().optional(),
    /** Strategy used when the deposit or the command names none. */
    defaultStrategy: z.string().min(1).default('default'),
    /** Workers run inside `coffre serve` (0 disables them: only `coffre worker` processes run jobs). */
    workers: z.number().int().nonnegative().default(4),
    /** Items of one batch handled in parallel by one worker. */
    itemConcurrency: z.number().int().positive().default(16),
    /** Lease of a job or an operation; renewed at a third of it while the holder is alive. */
    leaseTtl: duration().default(30_000),
    /** A job leased this many times without finishing is failed FATAL (a poison batch). */
    maxAttempts: z.number().int().positive().default(5),
    /** How often idle workers and coordinators look for work when no wake-up arrives. */
    pollInterval: duration().default(500),
    /** Keep an operation's workspace (the unpacked package) once it ended; by default it is removed. */
    keepWorkspace: z.boolean().default(false),
    /** Run operation coordinators in this process (serve and worker both can). */
    coordinate: z.boolean().default(true),
  })
  .strict()
  .prefault({});

export type IngestConfig = z.output<typeof ingestConfigSchema>;
