import { createHash } from 'node:crypto';
import type { Status } from '../../logbook/api.ts';
import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { worstStatus } from '../../logbook/api.ts';
import type { GroupItem } from './items.ts';

const NODE_ALGORITHMS: Record<string, string> = { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * CHECK_DIGEST, sub-task CALC_CHECK: the digest of each binary object's bytes, computed with
 * the declared algorithm, equals the declared one. The digest computed while unpacking is reused;
 * otherwise the file is read once more.
 */
export default class CheckDigest implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const group = io.item.data as GroupItem;
    let status: Status = 'OK';
    const bad: string[] = [];
    for (const o of group.objects) {
      if (o.kind !== 'binary' || !o.path) continue;
      const declared = o.declaredDigest;
      if (!declared) continue; // BagIt payload without manifest entry is refused by the SIP check
      const alg = NODE_ALGORITHMS[declared.algorithm];
      if (!alg) {
        status = 'KO';
        bad.push(`${o.manifestId}: unknown digest algorithm ${declared.algorithm}`);
        continue;
      }
      let computed = o.computedDigest?.algorithm === declared.algorithm ? o.computedDigest.value : undefined;
      if (!computed) {
        const hash = createHash(alg);
        for await (const chunk of await io.workspace.openRead(o.path)) hash.update(chunk as Buffer);
        computed = hash.digest('hex');
      }
      if (computed.toLowerCase() !== declared.value.toLowerCase()) {
        status = worstStatus(status, 'KO');
        bad.push(`${o.manifestId}: declared ${declared.algorithm} ${declared.value}, computed ${computed}`);
      }
    }
    return {
      globalStatus: status,
      itemsStatus: [{ CALC_CHECK: { globalStatus: status } }],
      params: { group: group.manifestId, reason: bad[0] ?? '' },
      detail: bad.length ? { mismatches: bad } : undefined,
    };
  }
}
