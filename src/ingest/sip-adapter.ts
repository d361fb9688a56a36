import type { Workspace, UnpackResult } from '../workspace/index.ts';
import { readPackage, type SipPackage, type SipConfig } from '../sip/index.ts';

/**
 * Reads and checks the unpacked package with the SIP component (SEDA manifest or BagIt bag).
 * Throws the SIP component's SipError (code, where, issues) on a refusal.
 */
export function readCheckedPackage(ws: Workspace, listing: UnpackResult, config?: SipConfig): Promise<SipPackage> {
  return readPackage(ws, listing, {}, config);
}
