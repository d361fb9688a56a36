import { z } from 'zod';

/** Ingest, workflow and worker settings (`ingest:`). */
export const ingestConfigSchema = z.object({}).prefault({});
