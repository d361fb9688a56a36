/**
 * Runs a batch writer's drain one at a time: callers queue work and kick; while a drain runs,
 * new work waits for it, and a drain that ends with work still queued starts the next one.
 * Shared by the writers that group concurrent callers into one transaction (logbook, row writer).
 */
export class DrainLoop {
  private running: Promise<void> | null = null;

  constructor(
    private readonly drain: () => Promise<void>,
    private readonly hasWork: () => boolean,
  ) {}

  kick(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.hasWork()) this.kick();
    });
  }

  /** Resolves once nothing is queued and no drain runs (drains' own failures are their callers'). */
  async idle(): Promise<void> {
    while (this.running || this.hasWork()) await (this.running ?? Promise.resolve());
  }
}
