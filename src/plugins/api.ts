import type { Readable } from 'node:stream';
import type { Status, Logbook, EventInput } from '../logbook/api.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import type { CoffreDb } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { CoffreConfig } from '../config/index.ts';
import type { Workspaces } from '../workspace/index.ts';

/**
 * The worker plugin contract (seed 004). A plugin is a class whose instances have `execute`;
 * the worker makes a new instance for every call (plugins need not be safe to share), gives it a
 * handler I/O and gets an item status back.
 */
export interface WorkerPlugin {
  execute(io: HandlerIO): Promise<ItemStatus>;
}

export type PluginClass = new () => WorkerPlugin;

/** The status of one sub-task (`CALC_CHECK` of `CHECK_DIGEST`…). */
export interface SubTaskStatus {
  globalStatus: Status;
  /** Placeholders of the sub-task's message. */
  params?: Record<string, string | number>;
  detail?: unknown;
}

/** What a plugin returns (seed 004): the global status and one status per sub-task. */
export interface ItemStatus {
  globalStatus: Status;
  itemsStatus?: Array<Record<string, SubTaskStatus>>;
  /** Placeholders of the action's message (`{offerId}`, `{expected}`…). */
  params?: Record<string, string | number>;
  /** Free detail for the journal's evDetData. */
  detail?: unknown;
}

/** The item a call works on: the whole operation, an object group or an archive unit. */
export interface WorkItem {
  kind: 'operation' | 'objectgroup' | 'unit';
  id: string;
  seq: number;
  data: any;
}

/** Read access to the operation's workspace (the unpacked package). */
export interface WorkspaceFiles {
  /** Absolute path of a package file (the name is checked: it cannot leave the workspace). */
  path(relativePath: string): string;
  openRead(relativePath: string): Promise<Readable>;
  size(relativePath: string): Promise<number>;
  /**
   * Where a package file's bytes are: `size` bytes from `start` in `file` — the file itself, or
   * the package for an entry left in it (large STORED zip entries are not copied).
   */
  locate(relativePath: string): Promise<{ file: string; start: number; size: number }>;
  /**
   * The whole bytes of a small package file (check its size first): one read, through a handle
   * of the package shared with the other calls for an entry left in it (no open per file).
   */
  read(relativePath: string): Promise<Buffer>;
}

/** Where a plugin leaves results for later steps and for the report. */
export interface OutputArea {
  write(name: string, data: string | Buffer): Promise<void>;
  read(name: string): Promise<string | undefined>;
}

/** What the worker hands to a plugin (Vitam's HandlerIO). */
export interface HandlerIO {
  operationId: string;
  workflowId: string;
  step: string;
  action: string;
  item: WorkItem;
  /** Worker parameters: the operation's parameters (strategy, package, kind, rejected…) and the action's. */
  parameters: Readonly<Record<string, any>>;
  workspace: WorkspaceFiles;
  output: OutputArea;
  /** Operation-journal events of the item (e.g. OBJ_STORAGE's per-group STARTED and end, seed 000 steps 6 and 13). */
  journal(events: EventInput[]): Promise<void>;
  /** Lifecycle events of the item (written under the current step). */
  lifecycle(kind: 'unit' | 'objectgroup', lifecycleId: string, events: EventInput[]): Promise<void>;
  /** Message from the catalogues (default, then this plugin's properties). */
  message(code: string, params?: Record<string, string | number>): string;
  services: { cdb: CoffreDb; logbook: Logbook; storage?: StorageEngine; workspaces: Workspaces; config?: CoffreConfig; rows: BatchRowWrites };
  log: Logger;
}

export type { RowOp, RowWrites } from '../db/row-writer.ts';
import type { RowOp, RowWrites } from '../db/row-writer.ts';

/** Row writes of one batch of a step (HandlerIO.services.rows). */
export interface BatchRowWrites extends RowWrites {
  /**
   * Queues ops written with the whole batch, once its items are done and before the batch is
   * recorded done (a batch whose write fails is run again). For what only later steps read —
   * item data, index rows —: one commit per batch instead of one per few items.
   */
  atBatchEnd(ops: RowOp[]): void;
}

export const isPluginClass = (value: unknown): value is PluginClass =>
  typeof value === 'function' && typeof (value as { prototype?: { execute?: unknown } }).prototype?.execute === 'function';
