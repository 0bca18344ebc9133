import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { create } from '@bufbuild/protobuf';
import { Counter, type Registry } from 'prom-client';
import { ClassifiedEventSchema, ReclassificationSchema, ReclassificationState, type ClassifiedEvent, type Reclassification, type Source, type Verdict } from '@winnow/proto';
import { Classifier, MEMORY_WINDOW_MS, RULESET_VERSION, addressKeyer, toVerdict, type AddressKeyer, type Classified, type TraceEvent } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import type { StatsConfig } from '@winnow/config';
import type { EventStore } from '@winnow/storage';
import { Ingestor, historyInput } from './ingest';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

const WARM_SLACK_MS = 10 * 60_000;
const differs = (v: Verdict | undefined, c: Classified) => !v || v.actor !== c.decision.actor || v.source !== c.decision.source;

/**
 * Classifies a tenant's stored events again under the rule set this process runs: oldest first, a
 * page at a time, with the whole history the rules need (a fresh Classifier fed every event in
 * order). A verdict whose actor or source changed is stored as the next revision, through the
 * same path as any revision, so the counters follow exactly. The job checkpoints after every page
 * and resumes from there after a crash (warming its history up on the 30 days before the
 * checkpoint); a job still running when the process stops is resumed at the next start.
 */
@Injectable()
export class Reclassifier implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('Reclassifier');
  private readonly running = new Map<string, Promise<void>>();
  private readonly keyer: AddressKeyer;
  private readonly changedTotal: Counter<'from' | 'to'>;
  private stopped = false;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(STATS_CONFIG) private readonly config: StatsConfig,
    @Inject(METRICS) registry: Registry,
    private readonly ingestor: Ingestor,
  ) {
    this.keyer = addressKeyer(config.addressKey);
    this.changedTotal = new Counter({ name: 'winnow_reclassified_total', help: 'Verdicts a reclassification changed, by old and new source', labelNames: ['from', 'to'], registers: [registry] });
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const job of await this.store.listReclassifications()) {
      if (job.state === ReclassificationState.RUNNING) {
        this.log.log({ msg: 'resuming reclassification', tenant: job.tenant, scanned: Number(job.scanned) });
        void this.start(job.tenant).catch((err: unknown) => this.log.error({ msg: 'reclassification could not resume', tenant: job.tenant, error: String(err) }));
      }
    }
  }

  /** Waits for running jobs to reach their next checkpoint (on shutdown). */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running.values());
  }

  get(tenant: string): Promise<Reclassification | undefined> {
    return this.store.getReclassification(tenant);
  }

  /** Starts a tenant's job, resumes it where it stopped, or reports the one running. */
  async start(tenant: string): Promise<Reclassification> {
    let job = await this.store.getReclassification(tenant);
    if (this.running.has(tenant) && job) return job;
    if (!job || job.state !== ReclassificationState.RUNNING || job.rulesetVersion !== RULESET_VERSION) {
      job = create(ReclassificationSchema, {
        tenant,
        rulesetVersion: RULESET_VERSION,
        state: ReclassificationState.RUNNING,
        positionAtUnixMs: '0',
        startedAtUnixMs: String(Date.now()),
        total: String(await this.store.countEvents(tenant)),
      });
      await this.store.putReclassification(job);
    }
    const run = this.run(job)
      .catch((err: unknown) => this.log.error({ msg: 'reclassification stopped; start it again to resume', tenant, error: String(err) }))
      .finally(() => this.running.delete(tenant));
    this.running.set(tenant, run);
    return job;
  }

  private async run(job: Reclassification): Promise<void> {
    const tenant = job.tenant;
    const resumed = job.positionEventId !== '';
    const posAt = Number(job.positionAtUnixMs);
    const posId = job.positionEventId;
    const done = (at: number, id: string) => resumed && (at < posAt || (at === posAt && id <= posId));
    const history = new Classifier({ maxMessages: Number.MAX_SAFE_INTEGER });
    const storedOf = new WeakMap<TraceEvent, ClassifiedEvent>();
    const changed = new Map<string, { from: Source; to: Source; count: number }>();
    /** The source each event changed in this run had before it (only changed events are held). */
    const original = new Map<string, Source>();
    for (const c of job.changed) changed.set(`${c.from}>${c.to}`, { from: c.from, to: c.to, count: Number(c.count) });
    let scanned = Number(job.scanned);
    const from = resumed ? posAt - MEMORY_WINDOW_MS - WARM_SLACK_MS : Number.MIN_SAFE_INTEGER;
    for await (const page of this.store.scanEvents(tenant, from, this.config.reclassifyPage)) {
      const { traces, features, revisions, stored: withEvidence } = historyInput(page, this.keyer);
      traces.forEach((t, i) => storedOf.set(t, withEvidence[i]!));
      const { verdicts, revised } = history.classify(traces, { features, revisions });
      const diffs = new Map<string, { before: ClassifiedEvent; now: Classified }>();
      let last: ClassifiedEvent | undefined;
      verdicts.forEach((v, i) => {
        const stored = page[i]!;
        if (done(Number(stored.event!.atUnixMs), stored.event!.id)) return;
        last = stored;
        scanned++;
        if (differs(stored.verdict, v)) diffs.set(stored.event!.id, { before: stored, now: v });
      });
      // Later evidence in this page changing an earlier event (of this page or before).
      for (const r of revised) {
        const before = storedOf.get(r.event);
        if (before && differs(before.verdict, r)) diffs.set(r.event.id, { before, now: r });
        else diffs.delete(r.event.id);
      }
      const writes: ClassifiedEvent[] = [];
      const count = (from: Source, to: Source, n: number) => {
        const key = `${from}>${to}`;
        const c = changed.get(key) ?? { from, to, count: 0 };
        c.count += n;
        if (c.count === 0) changed.delete(key);
        else changed.set(key, c);
        if (n > 0) this.changedTotal.inc({ from: sourceName(from), to: sourceName(to) });
      };
      for (const { before, now } of diffs.values()) {
        const next = create(ClassifiedEventSchema, { event: before.event, evidence: before.evidence, verdict: toVerdict({ ...now, revision: (before.verdict?.revision ?? 0) + 1 }) });
        writes.push(next);
        storedOf.set(now.event, next);
        // Counted once per event, from the verdict it had before this job to the one it ends with
        // (an event revised again by a later page moves its count, it does not add one).
        const id = now.event.id;
        const was = (before.verdict?.source ?? 0) as Source;
        const first = original.get(id);
        if (first === undefined) {
          original.set(id, was);
          count(was, now.decision.source, 1);
        } else {
          count(first, was, -1);
          if (first !== now.decision.source) count(first, now.decision.source, 1);
        }
      }
      if (writes.length > 0) await this.ingestor.writeBetweenBatches(tenant, writes);
      if (last) {
        job.positionAtUnixMs = last.event!.atUnixMs;
        job.positionEventId = last.event!.id;
      }
      job.scanned = String(scanned);
      job.changed = [...changed.values()].map((c) => ({ $typeName: 'winnow.stats.v1.SourceChange' as const, from: c.from, to: c.to, count: String(c.count) }));
      await this.store.putReclassification(job);
      if (this.stopped) return;
      if (this.config.reclassifyPauseMs > 0) await new Promise((ok) => setTimeout(ok, this.config.reclassifyPauseMs));
    }
    job.state = ReclassificationState.DONE;
    job.finishedAtUnixMs = String(Date.now());
    await this.store.putReclassification(job);
    this.log.log({ msg: 'reclassification done', tenant, scanned, changed: [...changed.values()].reduce((n, c) => n + c.count, 0) });
  }
}
