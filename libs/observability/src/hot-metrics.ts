import { Counter, Histogram, type CounterConfiguration, type HistogramConfiguration } from 'prom-client';

/**
 * Counters and histograms for per-request hot paths.
 *
 * prom-client's labelled `inc()` and `observe()` check and hash the label set on every call, even on
 * a child from `labels()`: about half a microsecond each in a tight loop and several times that
 * between the other work of a request (on the collector, answering at once with and without the two
 * per-request series differed by 5-10 µs of CPU a request under bench:collector's load; with these,
 * by nothing measurable). These keep plain numbers per label set and hand them to
 * a real prom-client metric in its `collect` hook, which the registry calls on every scrape, so what
 * /metrics shows is exact as of the scrape. Get a cell once per label set and keep it.
 */
export class HotCounter<L extends string> {
  readonly metric: Counter<L>;
  private readonly cells: Array<{ labels: Partial<Record<L, string>>; n: number }> = [];

  constructor(config: Omit<CounterConfiguration<L>, 'collect'>) {
    const cells = this.cells;
    this.metric = new Counter<L>({
      ...config,
      collect() {
        for (const c of cells) {
          if (c.n === 0) continue;
          this.inc(c.labels, c.n);
          c.n = 0;
        }
      },
    });
  }

  /** The counter cell of one label set. */
  cell(labels: Partial<Record<L, string>>): { n: number } {
    const c = { labels, n: 0 };
    // Zero from the start, as prom-client shows a labelled series once it exists.
    this.metric.inc(labels, 0);
    this.cells.push(c);
    return c;
  }
}

/**
 * Values held per cell before they are handed over without waiting for a scrape. Handing over
 * replays each value into prom-client (~0.7 µs each in a loop), so this bounds how long one flush
 * holds the event loop: ~0.35 ms. Replayed in a batch, the same calls cost a fraction of what they
 * cost one per request.
 */
const MAX_PENDING = 512;

export class HotHistogram<L extends string> {
  readonly metric: Histogram<L>;
  private readonly cells: HistogramCell<L>[] = [];

  constructor(config: Omit<HistogramConfiguration<L>, 'collect'>) {
    const cells = this.cells;
    this.metric = new Histogram<L>({
      ...config,
      collect() {
        for (const c of cells) c.flush();
      },
    });
  }

  /** The histogram cell of one label set. */
  cell(labels: Partial<Record<L, string>>): HistogramCell<L> {
    const c = new HistogramCell(this.metric, labels);
    this.metric.zero(labels);
    this.cells.push(c);
    return c;
  }
}

export class HistogramCell<L extends string> {
  private readonly pending = new Float64Array(MAX_PENDING);
  private length = 0;

  constructor(
    private readonly metric: Histogram<L>,
    private readonly labels: Partial<Record<L, string>>,
  ) {}

  /** Records one value (exactly as Histogram.observe would, at the next scrape). */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`histogram value is not a finite number: ${value}`);
    this.pending[this.length++] = value;
    if (this.length === MAX_PENDING) this.flush();
  }

  flush(): void {
    for (let i = 0; i < this.length; i++) this.metric.observe(this.labels, this.pending[i]!);
    this.length = 0;
  }
}
