export * from './contract.ts';
export * from './engine-api.ts';
export { openStorage, type OpenStorageOptions } from './open.ts';
export { Engine } from './engine.ts';
export { auditStorage, type AuditReport, type AuditDiscrepancy } from './audit.ts';
export { resolveReferential, referentialFaults, type Referential, type Strategy, type StrategyOffer } from './config.ts';
export { DriverRegistry, DriverLoadError, contractFault } from './registry.ts';
export { createFaultyDriver, type FaultyDriver, type Faults } from './drivers/faulty/index.ts';
