import { randomUUID } from 'node:crypto';
import type { EventInput, LifecycleKind, Logbook, LogbookEvent, OperationStart, Status } from '../../src/logbook/api.ts';
import { fillMessage } from '../../src/plugins/properties.ts';

/**
 * A small, real Logbook kept in memory, for testing the workflow engine apart from the journals
 * component (the end-to-end tests use the real one).
 */
export class MemoryLogbook implements Logbook {
  readonly operations = new Map<string, LogbookEvent[]>();
  readonly ended = new Map<string, Status>();
  readonly lifecycles: Array<{ kind: LifecycleKind; id: string; step: string; state: 'pending' | 'committed' | 'undone'; event: LogbookEvent }> = [];

  constructor(private readonly catalogue = new Map<string, string>()) {}

  private fill(operationId: string, e: EventInput): LogbookEvent {
    return {
      evId: e.evId ?? randomUUID(),
      evParentId: e.evParentId ?? null,
      evType: e.evType,
      evDateTime: new Date().toISOString(),
      evIdProc: operationId,
      evTypeProc: 'INGEST',
      outcome: e.outcome,
      outDetail: e.outDetail ?? `${e.evType}.${e.outcome}`,
      outMessg: e.outMessg ?? '',
      agId: e.agId ?? 'test',
      obId: e.obId ?? null,
      evDetData: e.evDetData ?? null,
      evIdReqst: null,
      agIdApp: null,
    };
  }

  async startOperation(start: OperationStart): Promise<string> {
    const id = start.id ?? randomUUID();
    if (!this.operations.has(id)) this.operations.set(id, [this.fill(id, { evType: start.evType, outcome: 'STARTED' })]);
    return id;
  }

  async appendOperation(operationId: string, events: EventInput[]): Promise<LogbookEvent[]> {
    const list = this.operations.get(operationId);
    if (!list) throw new Error(`no operation ${operationId}`);
    const out = events.map((e) => this.fill(operationId, e));
    list.push(...out);
    return out;
  }

  async endOperation(operationId: string, outcome: Status, event: Omit<EventInput, 'outcome'>): Promise<void> {
    await this.appendOperation(operationId, [{ ...event, outcome }]);
    this.ended.set(operationId, outcome);
  }

  async appendLifecycle(kind: LifecycleKind, id: string, operationId: string, step: string, events: EventInput[]): Promise<void> {
    for (const e of events) this.lifecycles.push({ kind, id, step, state: 'pending', event: this.fill(operationId, e) });
  }

  async commitStep(operationId: string, step: string): Promise<void> {
    for (const l of this.lifecycles) if (l.step === step && l.event.evIdProc === operationId && l.state === 'pending') l.state = 'committed';
  }

  async rollbackStep(operationId: string, step: string): Promise<void> {
    for (const l of this.lifecycles) if (l.step === step && l.event.evIdProc === operationId && l.state === 'pending') l.state = 'undone';
  }

  message(code: string, params?: Record<string, string | number>, pluginCatalogue?: Map<string, string>): string {
    const t = this.catalogue.get(code) ?? pluginCatalogue?.get(code);
    return t === undefined ? code : fillMessage(t, params);
  }

  /** `evType:outcome` of an operation's events, in order. */
  trail(operationId: string): string[] {
    return (this.operations.get(operationId) ?? []).map((e) => `${e.evType}:${e.outcome}`);
  }
}
