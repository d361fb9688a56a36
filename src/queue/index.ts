export { JobQueue, type Job, type JobInput, type JobRow, type QueueOptions } from './queue.ts';
export type { QueueJobTable, QueueTables } from './tables.ts';
