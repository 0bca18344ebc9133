/**
 * Runs work queued during one turn of the event loop together, in arrival order, at the next
 * `setImmediate`. The collector queues each tracking request's work here instead of doing it in
 * the HTTP parser's callback: under load one turn brings tens of requests, and opening their tokens,
 * encoding their events and appending them to the spool one after another keeps that code and
 * OpenSSL's cipher state hot in the CPU's caches. In bench:collector it took 15-20 µs off each
 * request (docs/architecture.md, "Throughput end to end"). The wait is one turn of the loop.
 */
export class TickBatch {
  private queue: Array<{ work: () => void; failed: (err: unknown) => void }> = [];

  /**
   * Queues `work`. If it throws, `failed` is told (and must not throw itself); the rest of the batch
   * runs all the same.
   */
  add(work: () => void, failed: (err: unknown) => void): void {
    this.queue.push({ work, failed });
    if (this.queue.length === 1) setImmediate(this.run);
  }

  /** Work queued and not yet run. */
  get pending(): number {
    return this.queue.length;
  }

  private readonly run = (): void => {
    const work = this.queue;
    // Work queued by the work itself waits for the next turn.
    this.queue = [];
    for (const w of work) {
      try {
        w.work();
      } catch (err) {
        w.failed(err);
      }
    }
  };
}
