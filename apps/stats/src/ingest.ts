import { Inject, Injectable, Logger } from '@nestjs/common';
import { create } from '@bufbuild/protobuf';
import { Counter, type Registry } from 'prom-client';
import { ErrorCode, WinnowError } from '@winnow/grpc';
import { ClassifiedEventSchema, EventFilterSchema, type ClassifiedEvent, type Evidence, type Source } from '@winnow/proto';
import { Classifier, MEMORY_WINDOW_MS, addressKeyer, evidenceOf, fromEvidence, toVerdict, type AddressKeyer, type EventFeatures, type TraceEvent } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import type { StatsConfig } from '@winnow/config';
import { StaleHistoryError, type EventStore, type RecordEventsResult } from '@winnow/storage';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

/** Rebuilds read the store this many events at a time. */
const REBUILD_PAGE = 5_000;
/** Beyond the memory window, the longest window a rule looks back over (the trap taint). */
const REBUILD_SLACK_MS = 10 * 60_000;

function problemOf(e: ClassifiedEvent): string | undefined {
  const ev = e.event;
  if (!ev?.id) return 'every event needs an id';
  if (!ev.tenant || !ev.message) return `event ${ev.id}: tenant and message are required`;
  if (!e.evidence) return `event ${ev.id}: evidence is required (the classifier derives it)`;
  return undefined;
}

/**
 * Where a message's, a campaign's and a tenant's evidence lives: here, beside the store that
 * holds every event. The store is the truth; the in-memory history (a Classifier) is a cache of
 * it, rebuilt per tenant from stored evidence on first use after a start, and thrown away whenever
 * a write fails (so it never runs ahead of the store). Batches are taken one at a time, in the
 * order they arrive: the store has one writer (docs/decisions.md), and this is it.
 */
@Injectable()
export class Ingestor {
  private readonly log = new Logger('Ingestor');
  private history = new Classifier();
  /** Tenants whose history is loaded, with the history sequence it was read at (and moved on since). */
  private readonly loaded = new Map<string, number>();
  /** The stored form of each event the history holds (freed with it): revisions are stored from it. */
  private readonly storedOf = new WeakMap<TraceEvent, ClassifiedEvent>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly keyer: AddressKeyer;
  private readonly verdicts: Counter<'source'>;
  private readonly revisions: Counter;
  private readonly rebuilds: Counter;
  private readonly rebuiltEvents: Counter;
  private readonly stale: Counter;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(STATS_CONFIG) config: StatsConfig,
    @Inject(METRICS) registry: Registry,
  ) {
    this.keyer = addressKeyer(config.addressKey);
    const registers = [registry];
    this.verdicts = new Counter({ name: 'winnow_verdicts_total', help: 'Verdicts given at ingest, by source (a retried batch counts again)', labelNames: ['source'], registers });
    this.revisions = new Counter({ name: 'winnow_verdict_revisions_total', help: 'Earlier verdicts changed by later evidence', registers });
    this.rebuilds = new Counter({ name: 'winnow_history_rebuilds_total', help: 'Tenant histories rebuilt from the store', registers });
    this.stale = new Counter({ name: 'winnow_history_stale_total', help: 'Batches refused because another writer moved a tenant on; rebuilt and classified again', registers });
    this.rebuiltEvents = new Counter({ name: 'winnow_history_rebuilt_events_total', help: 'Stored events read to rebuild histories', registers });
  }

  /** Classifies a batch with its history, stores it with the revisions it caused. One batch at a time. */
  ingest(events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    for (const e of events) {
      const problem = problemOf(e);
      if (problem) return Promise.reject(new WinnowError(ErrorCode.InvalidArgument, problem));
    }
    return this.serially(() => this.run(events));
  }

  /**
   * Stores events classified elsewhere (RecordEvents). They move their tenants' history sequences on,
   * so every history (here or in another replica) is rebuilt to include them.
   */
  record(events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    return this.serially(async () => {
      const fences = new Map<string, number>();
      for (const tenant of new Set(events.map((e) => e.event?.tenant ?? ''))) {
        this.loaded.delete(tenant);
        if (tenant) fences.set(tenant, await this.store.historySequence(tenant));
      }
      return this.store.recordEvents(events, fences);
    });
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    // Another replica writing the same tenant's events makes this one's history stale: rebuilt, and
    // the batch classified again (a replica that keeps losing gives up; the sender retries).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(events);
      } catch (err) {
        if (!(err instanceof StaleHistoryError) || attempt >= 3) throw err;
        this.stale.inc();
        this.log.warn({ msg: 'history stale, rebuilding', tenant: err.tenant, attempt });
      }
    }
  }

  private async once(events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    try {
      const tenants = [...new Set(events.map((e) => e.event!.tenant))];
      for (const tenant of tenants) if (!this.loaded.has(tenant)) await this.rebuild(tenant);
      const inputs = events.map((e) => fromEvidence(e.event!, e.evidence!));
      const { verdicts, revised } = this.history.classify(
        inputs.map((i) => i.trace),
        { features: inputs.map((i) => i.features) },
      );
      const out: ClassifiedEvent[] = [];
      verdicts.forEach((v, i) => {
        const stored = create(ClassifiedEventSchema, { event: events[i]!.event, evidence: events[i]!.evidence, verdict: toVerdict(v) });
        this.verdicts.inc({ source: sourceName(v.decision.source as Source) });
        if (!this.storedOf.has(v.event)) this.storedOf.set(v.event, stored);
        out.push(stored);
      });
      for (const r of revised) {
        const before = this.storedOf.get(r.event)!;
        const now = create(ClassifiedEventSchema, { event: before.event, evidence: before.evidence, verdict: toVerdict(r) });
        this.storedOf.set(r.event, now);
        out.push(now);
      }
      const fences = new Map(tenants.map((t) => [t, this.loaded.get(t)!]));
      const result = await this.store.recordEvents(out, fences);
      for (const t of tenants) this.loaded.set(t, fences.get(t)! + 1);
      this.revisions.inc(revised.length);
      return result;
    } catch (err) {
      // The history may now hold what the store does not: drop it, and rebuild from the store.
      this.reset();
      throw err;
    }
  }

  private reset(): void {
    this.history = new Classifier();
    this.loaded.clear();
  }

  /**
   * Reads the tenant's stored events back into the history: every event within the longest window
   * a rule looks back over (the tenant memory's 30 days) before the tenant's newest event.
   */
  private async rebuild(tenant: string): Promise<void> {
    const started = Date.now();
    // Read before the events: a write by another replica in between makes the first fenced write fail.
    const seq = await this.store.historySequence(tenant);
    const { events: newest } = await this.store.listEvents(create(EventFilterSchema, { tenant }), 1, '');
    let n = 0;
    if (newest[0]) {
      const from = Number(newest[0].event!.atUnixMs) - MEMORY_WINDOW_MS - REBUILD_SLACK_MS;
      for await (const page of this.store.scanEvents(tenant, from, REBUILD_PAGE)) {
        const traces: TraceEvent[] = [];
        const features: EventFeatures[] = [];
        const revisions: number[] = [];
        for (const stored of page) {
          const ev: Evidence = stored.evidence ?? evidenceOf(stored.event!, this.keyer);
          const { trace, features: f } = fromEvidence(stored.event!, ev);
          traces.push(trace);
          features.push(f);
          revisions.push(stored.verdict?.revision ?? 0);
          this.storedOf.set(trace, stored.evidence ? stored : create(ClassifiedEventSchema, { ...stored, evidence: ev }));
        }
        this.history.classify(traces, { features, revisions });
        n += page.length;
      }
    }
    this.loaded.set(tenant, seq);
    this.rebuilds.inc();
    this.rebuiltEvents.inc(n);
    if (n > 0) this.log.log({ msg: 'history rebuilt from the store', tenant, events: n, ms: Date.now() - started });
  }
}
