import { z } from 'zod';
import { bytes } from '../config/units.ts';

/** The `sip:` configuration section (package parsing and validation). */
export const sipConfigSchema = z
  .object({
    /** Folder holding seda/<version>/*.xsd and w3c/*.xsd; empty means the repository's standards/. */
    standardsDir: z.string().optional(),
    /** Largest manifest.xml accepted (the XSD validator holds it in memory). */
    maxManifestSize: bytes().default(256 * 2 ** 20),
    /** Deepest XML element nesting accepted in a manifest. */
    maxXmlDepth: z.number().int().positive().default(256),
    /** Longest text of one XML element kept as metadata. */
    maxXmlText: bytes().default(2 ** 20),
    /** Deepest archive-unit tree accepted. */
    maxUnitDepth: z.number().int().positive().default(100),
    /** Largest bagit.txt / bag-info.txt / manifest line count handled as metadata. */
    maxTagFileSize: bytes().default(64 * 2 ** 20),
  })
  .prefault({});

export type SipConfig = z.output<typeof sipConfigSchema>;
export const DEFAULT_SIP_CONFIG: SipConfig = sipConfigSchema.parse({});
