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
    /**
     * How far V8 lets the heap of a process running workers grow past its live data before a full
     * collection, in percent (V8's --heap-growing-percent); 0 leaves V8's own choice. V8 lets it
     * reach 3–4× the live data on a machine with memory to spare, and per-object work leaves much
     * medium-lived garbage: 10,000 objects peaked at 530 MiB of RSS (under 100 MiB live). Measured
     * on 10,000 × 4 KiB (bench ingest, two runs each): 0 → 1,278–1,299 objects/s at 386 MiB;
     * 100 → 1,316–1,330 at 300–322 MiB; 50 → 1,039–1,214 at 269–281 MiB. Applies to the whole process.
     */
    heapGrowthPercent: z.number().int().min(0).max(400).default(100),
  })
  .strict()
  .prefault({});

export type IngestConfig = z.output<typeof ingestConfigSchema>;
