import { z } from 'zod';

/** The gateway's section of the configuration (`gateway:`). */
export const gatewayConfigSchema = z.object({}).prefault({});
