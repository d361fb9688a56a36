import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { Status } from '../../logbook/api.ts';
import { worstStatus } from '../../logbook/api.ts';
import { nowIso } from '../../db/index.ts';
import { PACKAGE_SUMMARY, type PackageSummary } from './items.ts';
import type { StepState } from '../../ingest/workflow/coordinator.ts';

const SEDA_NS: Record<string, string> = {
  '2.1': 'fr:gouv:culture:archivesdefrance:seda:v2.1',
  '2.2': 'fr:gouv:culture:archivesdefrance:seda:v2.2',
  '2.3': 'fr:gouv:culture:archivesdefrance:seda:v2.3',
};

const esc = (s: unknown) => String(s ?? '').replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

function text(header: Record<string, unknown>, ...path: string[]): string | undefined {
  let v: unknown = header;
  for (const k of path) {
    if (Array.isArray(v)) v = v[0];
    v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  }
  if (Array.isArray(v)) v = v[0];
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Record<string, unknown>)['#text'] === 'string') return (v as Record<string, string>)['#text'];
  return undefined;
}

/** The acknowledgement of an ingest, JSON for every package. */
export interface IngestReport {
  operationId: string;
  status: Status;
  date: string;
  package: { kind?: string; version?: string; messageIdentifier?: string; units?: number; objects?: number; size?: number; warnings?: Array<{ code: string; message: string }> } | null;
  steps: Array<{ name: string; status: string; actions: Record<string, { status: string; counts: Record<string, number> }> }>;
  failures: Array<{ step: string; itemId: string; action: string; status: string; message: string }>;
  /** Manifest id → archive id of every unit (accepted ingests). */
  units: Record<string, string>;
}

/**
 * ATR_NOTIFICATION (FINALLY): the acknowledgement report, kept with the operation — JSON for every
 * package, and a SEDA ArchiveTransferReply for SEDA packages.
 */
export default class AtrNotification implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const db = io.services.cdb.db;
    const op = await db.selectFrom('ingest_operation').select(['steps', 'rejected']).where('id', '=', io.operationId).executeTakeFirstOrThrow();
    const steps = JSON.parse(op.steps) as StepState[];
    const summary = JSON.parse((await io.output.read(PACKAGE_SUMMARY)) ?? 'null') as PackageSummary | null;
    let status: Status = 'OK';
    for (const s of steps) if (s.status && s.status !== 'SKIPPED' && s.name !== io.step) status = worstStatus(status, s.status);
    if (op.rejected === 1 && status !== 'FATAL') status = 'KO';
    const report: IngestReport = {
      operationId: io.operationId,
      status,
      date: nowIso(),
      package: summary && {
        kind: summary.kind, version: summary.version, messageIdentifier: text(summary.header, 'MessageIdentifier'),
        units: summary.units, objects: summary.objects, size: summary.totalSize, warnings: summary.warnings.slice(0, 100),
      },
      steps: steps.filter((s) => s.status && s.status !== 'SKIPPED' && s.name !== io.step).map((s) => ({
        name: s.name, status: s.status!,
        actions: Object.fromEntries(Object.entries(s.actions ?? {}).map(([k, a]) => [k, { status: a.status, counts: a.counts as Record<string, number> }])),
      })),
      failures: steps.flatMap((s) => (s.failures ?? []).map((f) => ({ step: s.name, ...f }))).slice(0, 200),
      units: op.rejected === 1 || !summary ? {} : Object.fromEntries(summary.unitIds),
    };
    const json = JSON.stringify(report, null, 2);
    const xml = summary?.kind === 'seda' ? archiveTransferReply(report, summary) : null;
    await io.output.write('report.json', json);
    if (xml) await io.output.write('ArchiveTransferReply.xml', xml);
    await db.updateTable('ingest_operation').set({ report: json, reply_xml: xml }).where('id', '=', io.operationId).execute();
    return { globalStatus: 'OK', params: { status }, detail: { status, seda: xml !== null } };
  }
}

/** A SEDA ArchiveTransferReply in the namespace of the package's version. */
export function archiveTransferReply(r: IngestReport, s: PackageSummary): string {
  const ns = SEDA_NS[s.version] ?? SEDA_NS['2.1'];
  const h = s.header;
  const agreement = text(h, 'ArchivalAgreement');
  const events = r.steps.map((st) => `      <Event>
        <EventTypeCode>${esc(st.name)}</EventTypeCode>
        <EventType>${esc(st.name)}</EventType>
        <EventDateTime>${esc(r.date)}</EventDateTime>
        <Outcome>${esc(st.status)}</Outcome>
        <OutcomeDetail>${esc(`${st.name}.${st.status}`)}</OutcomeDetail>
      </Event>`);
  for (const f of r.failures.slice(0, 50)) {
    events.push(`      <Event>
        <EventTypeCode>${esc(f.action)}</EventTypeCode>
        <EventDateTime>${esc(r.date)}</EventDateTime>
        <Outcome>${esc(f.status)}</Outcome>
        <OutcomeDetail>${esc(`${f.action}.${f.status}`)}</OutcomeDetail>
        <OutcomeDetailMessage>${esc(`${f.itemId}: ${f.message}`)}</OutcomeDetailMessage>
      </Event>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<ArchiveTransferReply xmlns="${ns}" xmlns:xlink="http://www.w3.org/1999/xlink">
  <Date>${esc(r.date)}</Date>
  <MessageIdentifier>${esc(r.operationId)}</MessageIdentifier>
${agreement ? `  <ArchivalAgreement>${esc(agreement)}</ArchivalAgreement>\n` : ''}  <CodeListVersions/>
  <ReplyCode>${esc(r.status)}</ReplyCode>
  <Operation>
${events.join('\n')}
  </Operation>
  <MessageRequestIdentifier>${esc(text(h, 'MessageIdentifier') ?? 'unknown')}</MessageRequestIdentifier>
  <ArchivalAgency>
    <Identifier>${esc(text(h, 'ArchivalAgency', 'Identifier') ?? 'unknown')}</Identifier>
  </ArchivalAgency>
  <TransferringAgency>
    <Identifier>${esc(text(h, 'TransferringAgency', 'Identifier') ?? 'unknown')}</Identifier>
  </TransferringAgency>
</ArchiveTransferReply>
`;
}
