export { openDatabase, openAndMigrate, migrate, type CoffreDb } from './open.ts';
export { columnTypes, type CoffreMigration, type ColumnTypes, type DialectName } from './migration.ts';
export type { Database } from './tables.ts';
export { nowIso } from './time.ts';
export { withLock, tryAcquireLock, releaseLock, LockBusyError } from './locks.ts';
