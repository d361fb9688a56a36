import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { PACKAGE_SUMMARY, type PackageSummary } from './items.ts';

/**
 * STORAGE_AVAILABILITY_CHECK (seed 000, CheckStorage steps 2–4): the storage engine reads the
 * strategy and asks each of its offers, through its driver, whether it is available and has room
 * for the package's total size. The worker journals STARTED before (step 1) and this result
 * after (step 5).
 */
export default class StorageAvailabilityCheck implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const storage = io.services.storage;
    if (!storage) return { globalStatus: 'FATAL', params: { reason: 'no storage engine in this worker' } };
    const summary = JSON.parse((await io.output.read(PACKAGE_SUMMARY)) ?? 'null') as PackageSummary | null;
    if (!summary) return { globalStatus: 'FATAL', params: { reason: 'the package summary is missing' } };
    const strategy = String(io.parameters.strategy ?? 'default');
    if (!storage.strategyIds().includes(strategy)) {
      return { globalStatus: 'KO', params: { strategy, size: summary.totalSize, reason: `unknown storage strategy ${strategy} (known: ${storage.strategyIds().join(', ')})` } };
    }
    const check = await storage.check(strategy, summary.totalSize);
    const failing = check.offers.filter((o) => o.status !== 'OK');
    return {
      globalStatus: check.status === 'OK' ? 'OK' : 'KO',
      itemsStatus: check.offers.map((o) => ({ [`OFFER_${o.offerId.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`]: { globalStatus: o.status, params: { offerId: o.offerId } } })),
      params: {
        strategy,
        size: summary.totalSize,
        offers: check.offers.length,
        reason: failing.map((o) => `${o.offerId}: ${o.message ?? 'KO'}`).join('; '),
      },
      detail: check,
    };
  }
}
