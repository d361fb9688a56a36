import { join } from 'node:path';
import { driver as fsDriver } from '../../../src/storage/drivers/fs/index.ts';
import { createFaultyDriver } from '../../../src/storage/drivers/faulty/index.ts';
import { DEFAULT_LIMITS } from '../../../src/storage/config.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { runDriverContractSuite } from '../contract-suite.ts';

// With no fault switched on, the wrapper must be indistinguishable from the driver it wraps.
runDriverContractSuite('faulty wrapper over fs, no fault', async () => {
  const dir = tempDir('coffre-faulty-contract-');
  const driver = createFaultyDriver(fsDriver);
  return { driver, offer: { id: 'wrapped', driver: 'faulty', parameters: { path: join(dir.path, 'offer') }, limits: { ...DEFAULT_LIMITS } }, cleanup: async () => dir.cleanup() };
});
