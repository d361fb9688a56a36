import { z } from 'zod';

/** The storage referential and engine settings (`storage:`). */
export const storageConfigSchema = z.object({}).prefault({});
