import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveTransferReply } from '../../src/plugins/builtin/atr.ts';
import { validateSedaSchema, type SedaVersion } from '../../src/sip/index.ts';

test('the ArchiveTransferReply is valid against the official XSD of each SEDA version', async () => {
  for (const version of ['2.1', '2.2', '2.3'] as SedaVersion[]) {
    const xml = archiveTransferReply(
      {
        operationId: 'op1', status: 'KO', date: new Date().toISOString(), package: null, units: {},
        steps: [{ name: 'STP_INGEST_CONTROL_SIP', status: 'KO', actions: {} }],
        failures: [{ step: 'STP_INGEST_CONTROL_SIP', itemId: 'BDO-1', action: 'CHECK_MANIFEST', status: 'KO', message: 'digest <mismatch> & more' }],
      },
      {
        kind: 'seda', version, totalSize: 0, units: 0, groups: 0, objects: 0, binaryObjects: 0, warnings: [], unitIds: [],
        header: { MessageIdentifier: 'MSG-1', ArchivalAgreement: 'IC-1', ArchivalAgency: { Identifier: 'A' }, TransferringAgency: { Identifier: 'T' } },
      },
    );
    assert.match(xml, new RegExp(`seda:v${version.replace('.', '\\.')}`));
    assert.match(xml, /<MessageRequestIdentifier>MSG-1<\/MessageRequestIdentifier>/);
    assert.deepEqual(await validateSedaSchema(Buffer.from(xml), 'ArchiveTransferReply.xml', version), [], `SEDA ${version}`);
  }
});
