import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS } from './tokens';

/** Every series the collector exports. Labels come from closed enums only. */
@Injectable()
export class CollectorMetrics {
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly tokensRejected: Counter<'route' | 'reason'>;
  readonly events: Counter<'state'>;
  readonly dropped: Counter<'reason'>;
  readonly queueDepth: Gauge;
  readonly domains: Gauge;
  readonly domainRefreshFailures: Counter;

  constructor(@Inject(METRICS) registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'winnow_collector_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers });
    this.latency = new Histogram({
      name: 'winnow_collector_request_duration_seconds',
      help: 'Time to answer a tracking request',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.tokensRejected = new Counter({ name: 'winnow_collector_tokens_rejected_total', help: 'Tokens refused, by route and reason; nothing is recorded for them', labelNames: ['route', 'reason'], registers });
    this.events = new Counter({ name: 'winnow_collector_events_total', help: 'Edge events by state: accepted (queued), sent (acknowledged as stored downstream)', labelNames: ['state'], registers });
    this.dropped = new Counter({ name: 'winnow_collector_events_dropped_total', help: 'Edge events lost, by reason', labelNames: ['reason'], registers });
    this.queueDepth = new Gauge({ name: 'winnow_collector_queue_depth', help: 'Edge events waiting to be sent downstream', registers });
    this.domains = new Gauge({ name: 'winnow_collector_tracking_domains', help: 'Tracking domains known to this collector', registers });
    this.domainRefreshFailures = new Counter({ name: 'winnow_collector_domain_refresh_failures_total', help: 'Failed reads of the tracking domains (the last good set stays in use)', registers });
  }
}
