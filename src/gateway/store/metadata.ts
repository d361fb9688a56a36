import { parseMetadata } from '../tus/protocol.ts';

/** Decodes stored (already validated) Upload-Metadata; never throws. */
export function parseMetadataLenient(header: string): Record<string, string> {
  try {
    return parseMetadata(header);
  } catch {
    return {};
  }
}
