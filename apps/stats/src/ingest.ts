import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { create } from '@bufbuild/protobuf';
import { Counter, type Registry } from 'prom-client';
import { ClassifiedEventSchema, DeadLetterSchema, EventFilterSchema, type ClassifiedEvent, type DeadLetter, type Delivery, type Evidence, type Source } from '@winnow/proto';
import { BoundedMap, Classifier, MEMORY_WINDOW_MS, RULE_HEADERS, addressKeyer, evidenceOf, fromEvidence, toVerdict, type AddressKeyer, type EventFeatures, type TraceEvent } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import type { StatsConfig } from '@winnow/config';
import { StaleHistoryError, StoreFailure, StoreInputError, isTransient, storeFailureOf, tombstoneKey, type EraseResult, type EraseScope, type EventStore, type RecordDeliveriesResult, type RecordEventsResult, type Revision } from '@winnow/storage';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';
import { tenantIdProblem } from '@winnow/tokens';
import { MAX_NAME } from './store-errors';

/** Rebuilds read the store this many events at a time. */
const REBUILD_PAGE = 5_000;
/** Beyond the memory window, the longest window a rule looks back over (the trap taint). */
const REBUILD_SLACK_MS = 10 * 60_000;

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const MAX_HEADER_VALUE = 2048;

/** Why an event cannot be taken at all (it goes to the dead letters), or undefined. */
function problemOf(e: ClassifiedEvent): string | undefined {
  const ev = e.event;
  if (!ev?.id) return 'every event needs an id';
  if (!ev.tenant || !ev.message) return `event ${ev.id.slice(0, 80)}: tenant and message are required`;
  const tenant = tenantIdProblem(ev.tenant);
  if (tenant) return `event ${ev.id.slice(0, 80)}: ${tenant}`;
  for (const [what, v] of [['id', ev.id], ['tenant', ev.tenant], ['campaign', ev.campaign], ['message', ev.message]] as const) {
    if (v.length > MAX_NAME) return `event ${ev.id.slice(0, 80)}: ${what} is ${v.length} characters long (at most ${MAX_NAME})`;
  }
  if (!e.evidence) return `event ${ev.id}: evidence is required (the classifier derives it)`;
  for (const headers of [ev.headers, e.evidence.headers]) {
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME.test(name)) return `event ${ev.id}: ${JSON.stringify(name.slice(0, 80))} is not a lower-case header name`;
      if (value.length > MAX_HEADER_VALUE) return `event ${ev.id}: header ${name} is ${value.length} characters long (at most ${MAX_HEADER_VALUE})`;
    }
  }
  return undefined;
}

export interface IngestResult extends RecordEventsResult {
  /** Events that failed permanently and were kept as dead letters instead. */
  deadLettered: number;
}

/**
 * Stored events as a history reads them back: each one's trace and features from its evidence
 * (derived from the stored request for events kept before evidence was, then set on the event),
 * and the revision its verdict has reached.
 */
export function historyInput(page: readonly ClassifiedEvent[], keyer: AddressKeyer): { traces: TraceEvent[]; features: EventFeatures[]; revisions: number[]; stored: ClassifiedEvent[] } {
  const traces: TraceEvent[] = [];
  const features: EventFeatures[] = [];
  const revisions: number[] = [];
  const stored: ClassifiedEvent[] = [];
  for (const e of page) {
    const evidence: Evidence = e.evidence ?? evidenceOf(e.event!, keyer);
    const { trace, features: f } = fromEvidence(e.event!, evidence);
    traces.push(trace);
    features.push(f);
    revisions.push(e.verdict?.revision ?? 0);
    stored.push(e.evidence ? e : create(ClassifiedEventSchema, { ...e, evidence }));
  }
  return { traces, features, revisions, stored };
}

/** Messages a stats history holds by default: about 500 MB of heap at 2 events a message (docs/architecture.md). */
export const DEFAULT_HISTORY_MAX_MESSAGES = 200_000;

const letterId = () => `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`;
const describe = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

/** Names whose tombstone keys (a SHA-256 each) the Ingestor remembers: a message's events come in several batches. */
const TOMBSTONE_KEYS_HELD = 65_536;

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
  /** Messages the history holds at most (WINNOW_HISTORY_MAX_MESSAGES): about 2.5 KB of heap each at two events a message. */
  private readonly maxMessages: number;
  private history: Classifier;
  /** Tenants whose history is loaded, with the history sequence it was read at (and moved on since). */
  private readonly loaded = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly keyer: AddressKeyer;
  private readonly tombstoneKeys = new BoundedMap<string>(TOMBSTONE_KEYS_HELD);
  private readonly verdicts: Counter<'source'>;
  private readonly revisions: Counter;
  private readonly rebuilds: Counter;
  private readonly rebuiltEvents: Counter;
  private readonly gone: Counter;
  private readonly recalled: Counter;
  private readonly stale: Counter;
  private readonly deadLetters: Counter<'failure'>;
  private readonly refused: Counter;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(STATS_CONFIG) config: StatsConfig,
    @Inject(METRICS) registry: Registry,
  ) {
    this.keyer = addressKeyer(config.addressKey);
    this.maxMessages = config.historyMaxMessages ?? DEFAULT_HISTORY_MAX_MESSAGES;
    this.history = new Classifier({ maxMessages: this.maxMessages });
    const registers = [registry];
    this.verdicts = new Counter({ name: 'winnow_verdicts_total', help: 'Verdicts given at ingest, by source (a retried batch counts again)', labelNames: ['source'], registers });
    this.revisions = new Counter({ name: 'winnow_verdict_revisions_total', help: 'Earlier verdicts changed by later evidence', registers });
    this.rebuilds = new Counter({ name: 'winnow_history_rebuilds_total', help: 'Tenant histories rebuilt from the store', registers });
    this.refused = new Counter({ name: 'winnow_erased_events_refused_total', help: 'Events of erased messages, campaigns or tenants that arrived later and were not stored', registers });
    this.deadLetters = new Counter({ name: 'winnow_dead_letters_total', help: 'Events kept as dead letters, by failure kind', labelNames: ['failure'], registers });
    this.stale = new Counter({ name: 'winnow_history_stale_total', help: 'Batches refused because another writer moved a tenant on; rebuilt and classified again', registers });
    this.gone = new Counter({ name: 'winnow_verdict_revisions_gone_total', help: 'Revisions not written because their event is no longer stored (past retention, or erased); its counters stay as they were', registers });
    this.recalled = new Counter({ name: 'winnow_history_recalled_messages_total', help: 'Messages the history had forgotten (to stay within WINNOW_HISTORY_MAX_MESSAGES) read back from the store before their next event', registers });
    this.rebuiltEvents = new Counter({ name: 'winnow_history_rebuilt_events_total', help: 'Stored events read to rebuild histories', registers });
  }

  /**
   * Classifies a batch with its history, stores it with the revisions it caused. One batch at a
   * time. An event that cannot be taken, or that the store refuses permanently, goes to the dead
   * letters with why, and the rest of the batch is stored; a transient failure rejects the whole
   * batch (the sender keeps it and retries).
   */
  ingest(events: readonly ClassifiedEvent[]): Promise<IngestResult> {
    return this.serially(async () => {
      const result: IngestResult = { stored: 0, duplicates: 0, revised: 0, gone: 0, deadLettered: 0 };
      const letters: DeadLetter[] = [];
      const good: ClassifiedEvent[] = [];
      for (const e of events) {
        const problem = problemOf(e);
        if (problem) letters.push(this.letter(e, StoreFailure.Invalid, problem));
        else good.push(e);
      }
      await this.storeOrSplit(await this.withoutErased(good), result, letters);
      if (letters.length > 0) {
        // Kept before the batch is answered; if even this fails, the batch is retried whole.
        await this.store.putDeadLetters(letters);
        for (const l of letters) {
          this.deadLetters.inc({ failure: l.failure });
          this.log.error({ msg: 'event kept as a dead letter', tenant: l.tenant, event: l.eventId, failure: l.failure, reason: l.reason, deadLetter: l.id });
        }
        result.deadLettered = letters.length;
      }
      return result;
    });
  }

  /** Erases a message, a campaign or a tenant between batches; the history is dropped with it. */
  erase(scope: EraseScope): Promise<EraseResult> {
    return this.serially(async () => {
      try {
        return await this.store.erase(scope);
      } finally {
        this.reset();
      }
    });
  }

  /**
   * Records deliveries, leaving out those of erased messages, campaigns and tenants: their record is
   * gone, so the store would take such a delivery for a new message and count it a second time
   * (every rate of the campaign would fall). Those left out are counted in neither result field.
   */
  deliver(deliveries: readonly Delivery[]): Promise<RecordDeliveriesResult> {
    return this.serially(async () => {
      const erased = await this.erasedAmong(deliveries);
      const kept = erased.size === 0 ? deliveries : deliveries.filter((_, i) => !erased.has(i));
      this.refused.inc(erased.size);
      return kept.length > 0 ? this.store.recordDeliveries(kept) : { recorded: 0, duplicates: 0 };
    });
  }

  /** Which of these (by position) name an erased tenant, campaign or message. */
  private async erasedAmong(items: ReadonlyArray<{ tenant: string; campaign: string; message: string }>): Promise<Set<number>> {
    // A batch holds few tenants and campaigns and fewer messages than items, and a message's events
    // come in several batches: each name is hashed once while it is remembered.
    const wanted = new Set<string>();
    const keysOf = ({ tenant, campaign, message }: { tenant: string; campaign: string; message: string }) => [
      this.tombstoneKeyOf('tenant', tenant),
      this.tombstoneKeyOf('campaign', tenant, campaign),
      this.tombstoneKeyOf('message', tenant, message),
    ];
    for (const item of items) for (const k of keysOf(item)) wanted.add(k);
    const erased = await this.store.tombstonesAmong([...wanted]);
    const out = new Set<number>();
    if (erased.size === 0) return out;
    items.forEach((item, i) => {
      if (keysOf(item).some((k) => erased.has(k))) out.add(i);
    });
    return out;
  }

  /** tombstoneKey, remembered for recent names. */
  private tombstoneKeyOf(kind: 'tenant' | 'campaign' | 'message', tenant: string, name = ''): string {
    const k = `${kind}\u0000${tenant}\u0000${name}`;
    return this.tombstoneKeys.get(k) ?? this.tombstoneKeys.remember(k, tombstoneKey(kind, tenant, name));
  }

  /** Events of erased messages, campaigns or tenants are not stored again: counted, and acknowledged. */
  private async withoutErased(events: ClassifiedEvent[]): Promise<ClassifiedEvent[]> {
    const erased = await this.erasedAmong(events.map((e) => e.event!));
    if (erased.size === 0) return events;
    this.refused.inc(erased.size);
    return events.filter((_, i) => !erased.has(i));
  }

  /** Ingests dead letters again (after a fix): those stored leave the dead letters; those failing again stay, under a new id. */
  async replay(tenant: string, ids: readonly string[]): Promise<IngestResult & { replayed: number }> {
    const letters: DeadLetter[] = [];
    const wanted = new Set(ids);
    let token = '';
    do {
      const page = await this.store.listDeadLetters(tenant, 500, token);
      letters.push(...page.deadLetters.filter((l) => wanted.size === 0 || wanted.has(l.id)));
      token = page.nextPageToken;
    } while (token);
    const result = await this.ingest(letters.map((l) => l.event!).filter(Boolean));
    await this.store.deleteDeadLetters(tenant, letters.map((l) => l.id));
    return { ...result, replayed: letters.length };
  }

  private letter(e: ClassifiedEvent, failure: StoreFailure, reason: string): DeadLetter {
    return create(DeadLetterSchema, { id: letterId(), tenant: e.event?.tenant ?? '', eventId: e.event?.id ?? '', failure, reason, deadAtUnixMs: String(Date.now()), event: e });
  }

  /**
   * Stores events; on a permanent failure, halves the batch until the events that fail are alone,
   * and keeps those as dead letters. (Each failed write drops the history, rebuilt at the next
   * try: a permanent failure costs a rebuild per halving, which is why problemOf turns away the
   * known causes before any write.)
   */
  private async storeOrSplit(events: readonly ClassifiedEvent[], result: IngestResult, letters: DeadLetter[]): Promise<void> {
    if (events.length === 0) return;
    try {
      const r = await this.run(events);
      result.stored += r.stored;
      result.duplicates += r.duplicates;
      result.revised += r.revised;
      result.gone += r.gone;
    } catch (err) {
      const failure = storeFailureOf(err);
      if (isTransient(failure)) throw err;
      if (events.length === 1) {
        letters.push(this.letter(events[0]!, failure, describe(err)));
        return;
      }
      const mid = events.length >>> 1;
      await this.storeOrSplit(events.slice(0, mid), result, letters);
      await this.storeOrSplit(events.slice(mid), result, letters);
    }
  }

  /**
   * Stores events classified elsewhere (RecordEvents). They move their tenants' history sequences on,
   * so every history (here or in another replica) is rebuilt to include them.
   */
  record(events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    // Least data on this path too (docs/privacy.md): the request becomes its evidence here, as the
    // classifier makes it on the ingest path; the address and any header no rule reads go no further,
    // and the ingest path's limits apply. (Before 2026-12 these events were stored as sent: the full
    // address, cookies, Authorization, From, and header values of any size.)
    const reduced = events.map((e) => this.leastData(e));
    for (const e of reduced) {
      const problem = e.event ? problemOf(e) : undefined;
      if (problem) throw new StoreInputError(problem);
    }
    return this.serially(async () => {
      const fences = new Map<string, number>();
      for (const tenant of new Set(events.map((e) => e.event?.tenant ?? ''))) {
        this.loaded.delete(tenant);
        if (tenant) fences.set(tenant, await this.store.historySequence(tenant));
      }
      return this.store.recordEvents(await this.withoutErased(reduced), fences);
    });
  }

  /** An event as stored: its evidence (derived from the request when not given), no address, no raw headers. */
  private leastData(e: ClassifiedEvent): ClassifiedEvent {
    if (!e.event) return e;
    const evidence = e.evidence ?? evidenceOf(e.event, this.keyer);
    const headers: Record<string, string> = {};
    for (const h of RULE_HEADERS) if (evidence.headers[h] !== undefined) headers[h] = evidence.headers[h];
    return create(ClassifiedEventSchema, { ...e, event: { ...e.event, ip: '', headers: {} }, evidence: { ...evidence, headers } });
  }

  /**
   * Writes outside ingest (a reclassification's revisions), between ingest batches, fenced at the
   * tenant's current history sequence: the history here and in every other replica is rebuilt to
   * include them before the tenant's next batch.
   */
  writeBetweenBatches(tenant: string, events: readonly ClassifiedEvent[]): Promise<RecordEventsResult> {
    return this.serially(async () => {
      this.loaded.delete(tenant);
      return this.store.recordEvents(events, new Map([[tenant, await this.store.historySequence(tenant)]]));
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
      await this.recallForgotten(events);
      const inputs = events.map((e) => fromEvidence(e.event!, e.evidence!));
      const { verdicts, revised } = this.history.classify(
        inputs.map((i) => i.trace),
        { features: inputs.map((i) => i.features) },
      );
      const out: ClassifiedEvent[] = [];
      // Counted per batch: a labelled counter's inc hashes its labels on every call.
      const bySource = new Map<Source, number>();
      verdicts.forEach((v, i) => {
        out.push({ $typeName: 'winnow.verdict.v1.ClassifiedEvent', event: events[i]!.event, evidence: events[i]!.evidence, verdict: toVerdict(v) });
        const source = v.decision.source as Source;
        bySource.set(source, (bySource.get(source) ?? 0) + 1);
      });
      for (const [source, n] of bySource) this.verdicts.inc({ source: sourceName(source) }, n);
      // A revision names its event: the store keeps the event and its evidence, so the history need
      // not hold them (docs/architecture.md, "What the history holds").
      const revisions: Revision[] = revised.map((r) => ({ tenant: r.event.tenant, message: r.event.message, verdict: toVerdict(r) }));
      const fences = new Map(tenants.map((t) => [t, this.loaded.get(t)!]));
      const result = await this.store.recordEvents(out, fences, revisions);
      for (const t of tenants) this.loaded.set(t, fences.get(t)! + 1);
      this.revisions.inc(revised.length - result.gone);
      if (result.gone > 0) this.gone.inc(result.gone);
      return result;
    } catch (err) {
      // The history may now hold what the store does not: drop it, and rebuild from the store.
      this.reset();
      throw err;
    }
  }

  /**
   * The history keeps at most maxMessages messages and forgets the oldest; a forgotten message's
   * stored events are read back before its next event is classified, so its verdicts are those an
   * unbounded history would give (docs/architecture.md, "What the history holds").
   */
  private async recallForgotten(events: readonly ClassifiedEvent[]): Promise<void> {
    let recalled: Set<string> | undefined;
    for (const e of events) {
      const { tenant, message } = e.event!;
      if (!this.history.forgot(tenant, message)) continue;
      const k = `${tenant}\u0000${message}`;
      if ((recalled ??= new Set()).has(k)) continue;
      recalled.add(k);
      const stored = await this.store.messageEvents(tenant, message);
      if (stored.length === 0) continue;
      const { traces, features, revisions } = historyInput(stored, this.keyer);
      this.history.classify(traces, { features, revisions });
      this.recalled.inc();
    }
  }

  private reset(): void {
    this.history = new Classifier({ maxMessages: this.maxMessages });
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
        const { traces, features, revisions } = historyInput(page, this.keyer);
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
