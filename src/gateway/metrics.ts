import { Counter, register } from 'prom-client';

const counter = (name: string, help: string) =>
  (register.getSingleMetric(name) as Counter | undefined) ?? new Counter({ name, help });

/** Gateway metrics on /metrics (one registry per process, shared by every platform in it). */
export const gatewayMetrics = {
  bytesReceived: counter('coffre_gateway_bytes_received_total', 'Upload bytes received and kept'),
  uploadsCreated: counter('coffre_gateway_uploads_created_total', 'Uploads created'),
  uploadsCompleted: counter('coffre_gateway_uploads_completed_total', 'Uploads completed (deposit.completed published, partial uploads excluded)'),
  checksumMismatches: counter('coffre_gateway_checksum_mismatches_total', 'Chunks discarded because their checksum did not match'),
};
