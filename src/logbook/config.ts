import { z } from 'zod';

/** Journal settings (`logbook:`). */
export const logbookConfigSchema = z.object({}).prefault({});
