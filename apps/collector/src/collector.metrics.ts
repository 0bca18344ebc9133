import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram, type HistogramCell } from '@winnow/observability';
import { METRICS } from './tokens';

/** Every series the collector exports. Labels come from closed enums only. */
@Injectable()
export class CollectorMetrics {
  readonly tokensRejected: Counter<'route' | 'reason'>;
  readonly accepted: Counter;
  readonly sent: Counter;
  readonly spooled: Counter;
  readonly replayed: Counter;
  readonly dropped: Counter<'reason'>;
  readonly domains: Gauge;
  readonly domainRefreshFailures: Counter;
  private spoolState: () => { depth: number; bytes: number; zeroFailures: number } = () => ({ depth: 0, bytes: 0, zeroFailures: 0 });

  constructor(@Inject(METRICS) registry: Registry) {
    const registers = [registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    // The two series every request touches are kept in plain numbers and handed to prom-client at
    // each scrape (see HotCounter); the rest are ordinary prom-client metrics.
    this.hotRequests = new HotCounter({ name: 'winnow_collector_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers });
    this.hotLatency = new HotHistogram({
      name: 'winnow_collector_request_duration_seconds',
      help: 'Time to answer a tracking request, durable capture included',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.tokensRejected = new Counter({ name: 'winnow_collector_tokens_rejected_total', help: 'Tokens refused, by route and reason; nothing is recorded for them', labelNames: ['route', 'reason'], registers });
    this.accepted = new Counter({ name: 'winnow_collector_events_accepted_total', help: 'Events captured in the spool', registers });
    this.sent = new Counter({ name: 'winnow_collector_events_sent_total', help: 'Events acknowledged as stored downstream', registers });
    this.spooled = new Counter({ name: 'winnow_collector_events_spooled_total', help: 'Events captured while downstream was unavailable (they wait on disk)', registers });
    this.replayed = new Counter({ name: 'winnow_collector_events_replayed_total', help: 'Events sent after a restart from a spool written by an earlier process', registers });
    this.dropped = new Counter({ name: 'winnow_collector_events_dropped_total', help: 'Events lost, by reason', labelNames: ['reason'], registers });
    new Gauge({
      name: 'winnow_collector_queue_depth',
      help: 'Events captured and not yet stored downstream',
      registers,
      collect() {
        this.set(self.spoolState().depth);
      },
    });
    new Gauge({
      name: 'winnow_collector_spool_bytes',
      help: 'Bytes of spool segment files on disk',
      registers,
      collect() {
        this.set(self.spoolState().bytes);
      },
    });
    new Counter({
      name: 'winnow_collector_spool_zero_failures_total',
      help: 'Times the spool could not write zeros ahead of its records (a nearly full disk, most likely); records were written by extending the file',
      registers,
      collect() {
        this.reset();
        this.inc(self.spoolState().zeroFailures);
      },
    });
    this.domains = new Gauge({ name: 'winnow_collector_tracking_domains', help: 'Tracking domains known to this collector', registers });
    this.domainRefreshFailures = new Counter({ name: 'winnow_collector_domain_refresh_failures_total', help: 'Failed reads of the tracking domains (the last good set stays in use)', registers });
  }

  private readonly hotRequests: HotCounter<'route' | 'method' | 'status'>;
  private readonly hotLatency: HotHistogram<'route'>;
  /** route -> method -> status -> cell: three lookups of interned strings, no key built per request. */
  private readonly requestCells = new Map<string, Map<string, Map<string, { n: number }>>>();
  private readonly latencyCells = new Map<string, HistogramCell<'route'>>();
  private readonly rejectChildren = new Map<string, { inc(): void }>();

  request(route: string, method: string, status: string): void {
    let byMethod = this.requestCells.get(route);
    if (!byMethod) this.requestCells.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let cell = byStatus.get(status);
    if (!cell) byStatus.set(status, (cell = this.hotRequests.cell({ route, method, status })));
    cell.n++;
  }

  requestSeconds(route: string, seconds: number): void {
    let cell = this.latencyCells.get(route);
    if (!cell) this.latencyCells.set(route, (cell = this.hotLatency.cell({ route })));
    cell.observe(seconds);
  }

  tokenRejected(route: string, reason: string): void {
    const key = `${route} ${reason}`;
    let c = this.rejectChildren.get(key);
    if (!c) this.rejectChildren.set(key, (c = this.tokensRejected.labels(route, reason)));
    c.inc();
  }

  observeSpool(state: () => { depth: number; bytes: number; zeroFailures: number }): void {
    this.spoolState = state;
  }
}
