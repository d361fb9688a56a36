/** A unit of work in the database queue: one batch of one step of one operation. */
export interface QueueJobTable {
  id: number;
  queue: string;
  /** Idempotency key: enqueueing the same key twice makes one job. */
  job_key: string;
  operation_id: string | null;
  /** JSON. */
  payload: string;
  /** READY, LEASED, DONE. */
  state: string;
  owner: string | null;
  /** Epoch milliseconds. */
  lease_until: number;
  attempts: number;
  /** JSON result once DONE. */
  result: string | null;
  created_at: string;
  updated_at: string;
}

export interface QueueTables {
  queue_job: QueueJobTable;
}
