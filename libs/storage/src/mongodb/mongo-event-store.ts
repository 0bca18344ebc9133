import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Binary, MongoClient, MongoServerError, type AnyBulkWriteOperation, type BulkWriteOptions, type ClientSession, type Collection, type Db, type Document } from 'mongodb';
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue } from '@bufbuild/protobuf';
import {
  ClassifiedEventSchema,
  DeadLetterSchema,
  ReclassificationSchema,
  StoredApiKeySchema,
  SuppressionPolicySchema,
  TrackingDomainSchema,
  type ClassifiedEvent,
  type DeadLetter,
  type Reclassification,
  type StoredApiKey,
  type Delivery,
  type EventFilter,
  type SuppressionPolicy,
  type TrackingDomain,
} from '@winnow/proto';
import { SOURCE_SLOTS, emptyCampaign, type CampaignCounters } from '@winnow/engagement';
import {
  decodePageToken,
  encodePageToken,
  type EventPage,
  type EventStore,
  type HourBucket,
  type MessageRecord,
  type RecordDeliveriesResult,
  type RecordEventsResult,
  type Revision,
  type EraseResult,
  type EraseScope,
  StaleHistoryError,
  tombstoneKey,
} from '../event-store.port';
import { matchesFilter } from '../event-matching';
import { SecondWriterError } from '../single-writer';
import { messageKey, planDeliveries, planEvents, type MessageState, type Plan } from '../ledger';

export interface MongoStoreOptions {
  url: string;
  /** Database name; default: the one in the URL, else `winnow`. */
  database?: string;
  /** Raw events expire this many days after they happened (TTL index); 0 keeps them. */
  retentionDays: number;
  /** How long to wait for a server before a call fails as unavailable. */
  serverSelectionTimeoutMs?: number;
  /** Without transactions: how long the writer lease lasts unless renewed (default 30 s; renewed every third of it). */
  writerLeaseMs?: number;
}

/** Without transactions, the one writer's lease: who holds it and until when. */
interface WriterLeaseDoc {
  _id: 'writer';
  owner: string;
  host: string;
  pid: number;
  expiresAtMs: number;
}

interface EventDoc {
  _id: string;
  tenant: string;
  campaign: string;
  message: string;
  atMs: number;
  /** For the TTL index. */
  at: Date;
  kind: number;
  method: string;
  actor: number;
  source: number;
  revision: number;
  /** The stored event and verdict, protobuf JSON (readable for audits). */
  data: JsonValue;
}

interface MessageDoc extends MessageState {
  _id: string;
  lastAtMs?: number;
}

type Counts = Record<string, number>;

interface CampaignDoc {
  _id: string;
  /** Where there are no transactions: the last journalled batch whose increments this holds. */
  batch?: string;
  tenant: string;
  campaign: string;
  delivered?: number;
  opens?: Counts;
  clicks?: Counts;
  engaged?: Counts;
}

interface HourDoc {
  _id: string;
  /** As CampaignDoc.batch. */
  batch?: string;
  tenant: string;
  campaign: string;
  hourStartMs: number;
  opens?: Counts;
  clicks?: Counts;
}

/** A campaign or hour document as the counter writes see it: an id and fields named by path. */
type CounterWriteDoc = { _id: string } & Document;

/**
 * One counter document's increments, by dotted field path. Kept as a list of {path, n}: stored
 * field names hold no dots, and FerretDB 1.x stores no arrays of arrays.
 */
interface CounterIncrement {
  _id: string;
  init: Record<string, string | number>;
  inc: Array<{ path: string; n: number }>;
}

interface WriteSet {
  events: Array<{ doc: EventDoc; replaced: boolean }>;
  messages: MessageDoc[];
  campaigns: CounterIncrement[];
  hours: CounterIncrement[];
}

const PENDING_BATCH = 'pending';

/**
 * Where there are no transactions, a bulk write goes as commands of at most this many statements.
 * FerretDB 1.x (its `update` command, up to 1.24) keeps one backend connection for every statement
 * that matched a document until the whole command ends, and needs one more for each write: a command
 * with 50 matching statements on PostgreSQL (its pool's size) or 100 on SQLite never ends, and
 * nothing else on the server is answered again (tools/ferretdb-repro). 16 leaves room for the
 * readers, the lease and the dead letters beside it. MongoDB itself is not affected either way.
 */
export const STATEMENTS_PER_COMMAND = 16;

/** The batch being written where there are no transactions (at most one: batches run one at a time). */
interface JournalDoc extends WriteSet {
  _id: typeof PENDING_BATCH;
  batch: string;
}

interface JsonDoc {
  _id: string;
  tenant: string;
  data: JsonValue;
}

// Tenant ids never contain ':' (see libs/tokens isTenantId), so `${tenant}:${x}` is unique.
const id = (...parts: Array<string | number>) => parts.join(':');
const toArray = (c: Counts | undefined) => Array.from({ length: SOURCE_SLOTS }, (_, i) => c?.[i] ?? 0);

/**
 * The MongoDB adapter (official driver). Counters are documents updated with $inc, so the cost
 * of a campaign's statistics does not grow with its events. A batch is planned by the shared
 * ledger and written in one transaction where the server supports them (replica sets and sharded
 * clusters). On a standalone server (and FerretDB) batches run one at a time in this process, which
 * is safe with one stats replica (docs/statistics.md), and each goes through a journal: its writes
 * are stored as one document first, so a batch cut off half-way is finished exactly once.
 */
export class MongoEventStore implements EventStore {
  private readonly client: MongoClient;
  private db!: Db;
  private events!: Collection<EventDoc>;
  private messages!: Collection<MessageDoc>;
  private campaigns!: Collection<CampaignDoc>;
  private hours!: Collection<HourDoc>;
  private policies!: Collection<JsonDoc>;
  private domains!: Collection<JsonDoc>;
  private apiKeys!: Collection<JsonDoc>;
  private journal!: Collection<JournalDoc>;
  private lease!: Collection<WriterLeaseDoc>;
  private fences!: Collection<{ _id: string; seq: number }>;
  private deadLetters!: Collection<{ _id: string; tenant: string; campaign: string; message: string; deadAtMs: number; bytes: Binary }>;
  private jobs!: Collection<{ _id: string; bytes: Binary }>;
  private tombstones!: Collection<{ _id: string; atMs: number }>;
  private readonly leaseOwner = `${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`;
  private leaseTimer?: NodeJS.Timeout;
  /** Set when another writer took the lease over (this one stalled past its expiry): batches then fail. */
  private leaseLost = false;
  private transactions = false;
  /** Whether the journal may hold a batch not yet finished (checked before the next batch). */
  private journalDirty = true;
  private sweeper?: NodeJS.Timeout;
  /** How raw events expire: a TTL index (MongoDB), a periodic sweep (servers without TTL), or not at all. */
  retentionMode: 'ttl' | 'sweep' | 'none' = 'none';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: MongoStoreOptions) {
    this.client = new MongoClient(opts.url, { serverSelectionTimeoutMS: opts.serverSelectionTimeoutMs ?? 5000, retryWrites: true });
  }

  async init(): Promise<void> {
    await this.client.connect();
    this.db = this.client.db(this.opts.database);
    this.events = this.db.collection('events');
    this.messages = this.db.collection('messages');
    this.campaigns = this.db.collection('campaigns');
    this.hours = this.db.collection('hours');
    this.policies = this.db.collection('policies');
    this.domains = this.db.collection('tracking_domains');
    this.apiKeys = this.db.collection('api_keys');
    this.journal = this.db.collection('batch_journal');
    this.fences = this.db.collection('history_fences');
    this.deadLetters = this.db.collection('dead_letters');
    this.jobs = this.db.collection('reclassifications');
    this.tombstones = this.db.collection('tombstones');
    await this.apiKeys.createIndex({ tenant: 1 }, { name: 'tenant' });
    await this.events.createIndex({ tenant: 1, atMs: -1, _id: -1 }, { name: 'tenant_time' });
    await this.events.createIndex({ tenant: 1, message: 1, atMs: 1 }, { name: 'tenant_message_time' });
    await this.events.createIndex({ tenant: 1, campaign: 1, atMs: -1 }, { name: 'tenant_campaign_time' });
    if (this.opts.retentionDays > 0) {
      try {
        await this.events.createIndex({ at: 1 }, { name: 'retention', expireAfterSeconds: this.opts.retentionDays * 86_400 });
        this.retentionMode = 'ttl';
      } catch (err) {
        // FerretDB 1.x has no TTL indexes (error 238, NotImplemented): expire raw events with a sweep instead.
        if (!(err instanceof MongoServerError) || (err.code !== 238 && !/not implemented/i.test(err.message))) throw err;
        await this.events.createIndex({ at: 1 }, { name: 'retention_sweep' });
        this.retentionMode = 'sweep';
      }
      // Per-message records and dead letters expire by sweep on every server (raw events too without TTL).
      await this.sweepExpired();
      this.sweeper ??= setInterval(() => void this.sweepExpired().catch(() => undefined), 3_600_000);
      this.sweeper.unref();
    }
    await this.hours.createIndex({ tenant: 1, campaign: 1, hourStartMs: 1 }, { name: 'tenant_campaign_hour' });
    await this.domains.createIndex({ tenant: 1 }, { name: 'tenant' });
    const hello = await this.db.admin().command({ hello: 1 });
    this.transactions = typeof hello['setName'] === 'string' || hello['msg'] === 'isdbgrid';
    if (!this.transactions) await this.takeWriterLease();
    // A batch an earlier process left half-written (without transactions) is finished before any
    // other; also after the server became a replica set in between.
    await this.finishPendingBatch();
  }

  /**
   * Without transactions one process writes (batches go through the journal one at a time): a lease
   * document names it, renewed every third of its term. A second process waits out the lease it
   * finds: taken over if its holder stopped renewing (a crash), refused if it was renewed.
   */
  private async takeWriterLease(): Promise<void> {
    const ttl = this.opts.writerLeaseMs ?? 30_000;
    this.lease = this.db.collection<WriterLeaseDoc>('writer_lease');
    const doc = () => ({ owner: this.leaseOwner, host: hostname(), pid: process.pid, expiresAtMs: Date.now() + ttl });
    const take = async () => {
      try {
        await this.lease.updateOne({ _id: 'writer', $or: [{ owner: this.leaseOwner }, { expiresAtMs: { $lt: Date.now() } }] }, { $set: doc() }, { upsert: true });
        return undefined;
      } catch (err) {
        if (!(err instanceof MongoServerError) || err.code !== 11000) throw err;
        return (await this.lease.findOne({ _id: 'writer' })) ?? undefined;
      }
    };
    let holder = await take();
    // Held: a writer that crashed stops renewing, so wait until the lease it holds now has expired
    // (a restarted pod takes over in at most one lease); a live writer renews it in time.
    if (holder) {
      const until = holder.expiresAtMs;
      while (Date.now() <= until) await new Promise((ok) => setTimeout(ok, Math.min(1000, until - Date.now() + 20)));
      holder = await take();
    }
    if (holder) {
      await this.client.close();
      throw new SecondWriterError(
        `another stats process (${holder.owner}, lease until ${new Date(holder.expiresAtMs).toISOString()}) writes to this MongoDB database, and the server has no transactions (a standalone server or FerretDB) so it takes one writer. Run one stats replica, or use a replica set`,
      );
    }
    this.leaseTimer = setInterval(() => {
      void this.lease.updateOne({ _id: 'writer', owner: this.leaseOwner }, { $set: doc() }).then(
        (r) => {
          if (r.matchedCount === 0) this.leaseLost = true;
        },
        () => undefined, // a failed renewal is retried at the next tick; the lease outlives two of them
      );
    }, Math.max(100, Math.floor(ttl / 3)));
    this.leaseTimer.unref();
  }

  async ping(): Promise<void> {
    await this.db.admin().command({ ping: 1 });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.leaseTimer);
    if (this.leaseTimer && !this.leaseLost) await this.lease.deleteOne({ _id: 'writer', owner: this.leaseOwner }).catch(() => undefined);
    await this.client.close();
  }

  /**
   * Deletes raw events older than the retention period (where no TTL index does), per-message records
   * untouched for as long, and dead letters kept for as long; counters are kept. Returns how many raw
   * events went.
   */
  async sweepExpired(now = Date.now()): Promise<number> {
    if (this.opts.retentionDays <= 0) return 0;
    const cutoff = now - this.opts.retentionDays * 86_400_000;
    await this.messages.deleteMany({ lastAtMs: { $lt: cutoff } });
    await this.deadLetters.deleteMany({ deadAtMs: { $lt: cutoff } });
    if (this.retentionMode === 'ttl') return 0;
    const r = await this.events.deleteMany({ at: { $lt: new Date(cutoff) } });
    return r.deletedCount;
  }

  /** Runs batches one at a time here, and inside a transaction where the server has them. */
  private serial<T>(fn: (session: ClientSession | undefined) => Promise<T>): Promise<T> {
    const run = async () => {
      if (!this.transactions) {
        if (this.leaseLost) throw new SecondWriterError('another stats process took over the writer lease (this one stalled past its expiry): restart this one');
        if (this.journalDirty) await this.finishPendingBatch();
        return fn(undefined);
      }
      const session = this.client.startSession();
      try {
        return await session.withTransaction(() => fn(session));
      } finally {
        await session.endSession();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async loadMessages(keys: Array<[string, string]>, session?: ClientSession): Promise<Map<string, MessageState>> {
    const out = new Map<string, MessageState>();
    if (keys.length === 0) return out;
    const docs = await this.messages.find({ _id: { $in: keys.map(([t, m]) => id(t, m)) } }, { session }).toArray();
    for (const { _id: _ignored, ...m } of docs) out.set(messageKey(m.tenant, m.message), m);
    return out;
  }

  /** A batch's plan as the documents and increments it writes. */
  private writeSet(plan: Plan): WriteSet {
    const events = plan.events.map(({ value, replaced }) => {
      const ev = value.event!;
      const v = value.verdict!;
      const doc: EventDoc = {
        _id: id(ev.tenant, ev.id),
        tenant: ev.tenant,
        campaign: ev.campaign,
        message: ev.message,
        atMs: Number(ev.atUnixMs),
        at: new Date(Number(ev.atUnixMs)),
        kind: ev.kind,
        method: ev.method,
        actor: v.actor,
        source: v.source,
        revision: v.revision,
        data: toJson(ClassifiedEventSchema, value),
      };
      return { doc, replaced };
    });
    // lastAtMs: when the record was last written, for retention.
    const messages = [...plan.messages.values()].map((m): MessageDoc => ({ _id: id(m.tenant, m.message), ...m, lastAtMs: Date.now() }));
    const campaigns: CounterIncrement[] = [];
    for (const d of plan.campaigns.values()) {
      const inc: CounterIncrement['inc'] = [];
      if (d.delivered) inc.push({ path: 'delivered', n: d.delivered });
      d.counters.opens.forEach((n, i) => n && inc.push({ path: `opens.${i}`, n }));
      d.counters.clicks.forEach((n, i) => n && inc.push({ path: `clicks.${i}`, n }));
      for (const [k, n] of Object.entries(d.counters.engaged)) if (n) inc.push({ path: `engaged.${k}`, n });
      if (inc.length > 0) campaigns.push({ _id: id(d.tenant, d.campaign), init: { tenant: d.tenant, campaign: d.campaign }, inc });
    }
    const hours: CounterIncrement[] = [];
    for (const b of plan.buckets.values()) {
      const inc: CounterIncrement['inc'] = [];
      b.opens.forEach((n, i) => n && inc.push({ path: `opens.${i}`, n }));
      b.clicks.forEach((n, i) => n && inc.push({ path: `clicks.${i}`, n }));
      if (inc.length > 0) hours.push({ _id: id(b.tenant, b.campaign, b.hourStartMs), init: { tenant: b.tenant, campaign: b.campaign, hourStartMs: b.hourStartMs }, inc });
    }
    return { events, messages, campaigns, hours };
  }

  /**
   * Writes a batch. Inside a transaction the writes are as plain as they can be (all or nothing).
   * With `batch` (no transaction: the batch is in the journal) every write can be repeated: events and
   * messages are replaced whole, and each counter document remembers the last batch added to it, so
   * finishing a batch cut off half-way adds every increment exactly once.
   */
  private async apply(ws: WriteSet, session: ClientSession | undefined, batch?: string): Promise<void> {
    const eventOps: AnyBulkWriteOperation<EventDoc>[] = ws.events.map(({ doc, replaced }) =>
      replaced || batch ? { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } } : { insertOne: { document: doc } },
    );
    await this.bulk(this.events, eventOps, { ordered: true, session });
    const messageOps: AnyBulkWriteOperation<MessageDoc>[] = ws.messages.map((m) => ({ replaceOne: { filter: { _id: m._id }, replacement: m, upsert: true } }));
    await this.bulk(this.messages, messageOps, { ordered: false, session });
    for (const [collection, increments] of [[this.campaigns, ws.campaigns], [this.hours, ws.hours]] as const) {
      if (increments.length === 0) continue;
      const ops: AnyBulkWriteOperation<CounterWriteDoc>[] = [];
      for (const c of increments) {
        const inc = Object.fromEntries(c.inc.map(({ path, n }) => [path, n]));
        if (!batch) {
          ops.push({ updateOne: { filter: { _id: c._id }, update: { $inc: inc, $setOnInsert: c.init }, upsert: true } });
          continue;
        }
        // Make sure the document exists, then add only if this batch has not been added to it yet.
        ops.push({ updateOne: { filter: { _id: c._id }, update: { $setOnInsert: c.init }, upsert: true } });
        ops.push({ updateOne: { filter: { _id: c._id, batch: { $ne: batch } }, update: { $inc: inc, $set: { batch } } } });
      }
      // Campaign and hour documents alike: only their counters and `batch` are written here.
      await this.bulk(collection as unknown as Collection<CounterWriteDoc>, ops, { ordered: true, session });
    }
  }

  /**
   * One bulk write: one command inside a transaction; elsewhere commands of at most
   * STATEMENTS_PER_COMMAND statements, one after another. An ordered write stops at the first
   * failing command as it would at the first failing statement; an unordered one runs every command
   * and then throws the first error. Either way the batch is in the journal and is finished later.
   */
  private async bulk<T extends Document>(collection: Collection<T>, ops: AnyBulkWriteOperation<T>[], options: BulkWriteOptions): Promise<void> {
    if (ops.length === 0) return;
    if (this.transactions) {
      await collection.bulkWrite(ops, options);
      return;
    }
    let first: unknown;
    for (let i = 0; i < ops.length; i += STATEMENTS_PER_COMMAND) {
      try {
        await collection.bulkWrite(ops.slice(i, i + STATEMENTS_PER_COMMAND), options);
      } catch (err) {
        if (options.ordered !== false) throw err;
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /**
   * Runs one batch: in a transaction where the server has them; elsewhere through the journal. The
   * plan's writes are stored first as one document; then they are applied; then the document goes.
   * A batch cut off in between (connection lost, process killed) is finished before the next batch
   * is planned, or by the next start.
   */
  private async write(plan: Plan, session: ClientSession | undefined): Promise<void> {
    const ws = this.writeSet(plan);
    if (ws.events.length + ws.messages.length + ws.campaigns.length + ws.hours.length === 0) return;
    if (this.transactions) return this.apply(ws, session);
    const entry: JournalDoc = { _id: PENDING_BATCH, batch: randomUUID(), ...ws };
    this.journalDirty = true;
    await this.journal.insertOne(entry);
    await this.apply(ws, undefined, entry.batch);
    await this.journal.deleteOne({ _id: PENDING_BATCH, batch: entry.batch });
    this.journalDirty = false;
  }

  /** Finishes a batch the journal holds (see write()). */
  private async finishPendingBatch(): Promise<void> {
    const pending = await this.journal.findOne({ _id: PENDING_BATCH });
    if (pending) {
      await this.apply(pending, undefined, pending.batch);
      await this.journal.deleteOne({ _id: PENDING_BATCH, batch: pending.batch });
    }
    this.journalDirty = false;
  }

  recordEvents(batch: readonly ClassifiedEvent[], fences?: ReadonlyMap<string, number>, revisions: readonly Revision[] = []): Promise<RecordEventsResult> {
    return this.serial(async (session) => {
      // In a transaction, two writers moving the same tenant's sequence conflict: one is retried by
      // the driver, reads the sequence the other wrote, and is refused here.
      // Every fence is checked before any is moved (without a transaction nothing rolls back).
      for (const [tenant, expected] of fences ?? []) {
        const found = (await this.fences.findOne({ _id: tenant }, { session }))?.seq ?? 0;
        if (found !== expected) throw new StaleHistoryError(tenant, expected, found);
      }
      for (const [tenant, expected] of fences ?? []) {
        await this.fences.updateOne({ _id: tenant }, { $set: { seq: expected + 1 } }, { upsert: true, session });
      }
      const named = revisions.filter((r) => r.verdict?.eventId);
      const ids = [...new Set([...batch.filter((e) => e.event).map((e) => id(e.event!.tenant, e.event!.id)), ...named.map((r) => id(r.tenant, r.verdict.eventId))])];
      const stored = new Map<string, ClassifiedEvent>();
      if (ids.length > 0) {
        for (const d of await this.events.find({ _id: { $in: ids } }, { session, projection: { data: 1, tenant: 1 } }).toArray()) {
          const e = fromJson(ClassifiedEventSchema, d.data);
          stored.set(messageKey(d.tenant, e.event!.id), e);
        }
      }
      const messages = await this.loadMessages([...batch.filter((e) => e.event).map((e): [string, string] => [e.event!.tenant, e.event!.message]), ...named.map((r): [string, string] => [r.tenant, r.message])], session);
      const { plan, result } = planEvents(batch, stored, messages, revisions);
      await this.write(plan, session);
      return result;
    });
  }

  recordDeliveries(batch: readonly Delivery[]): Promise<RecordDeliveriesResult> {
    return this.serial(async (session) => {
      const messages = await this.loadMessages(batch.map((d) => [d.tenant, d.message]), session);
      const { plan, result } = planDeliveries(batch, messages);
      await this.write(plan, session);
      return result;
    });
  }

  async campaignCounters(tenant: string, campaign: string): Promise<CampaignCounters> {
    const d = await this.campaigns.findOne({ _id: id(tenant, campaign) });
    if (!d) return emptyCampaign();
    const engaged: Record<string, number> = {};
    for (const [k, n] of Object.entries(d.engaged ?? {})) if (n) engaged[k] = n;
    return { delivered: d.delivered ?? 0, opens: toArray(d.opens), clicks: toArray(d.clicks), engaged };
  }

  async message(tenant: string, message: string): Promise<MessageRecord | undefined> {
    const m = await this.messages.findOne({ _id: id(tenant, message) });
    return m ? { tenant, message, campaign: m.campaign, deliveredAtMs: m.deliveredAtMs, links: m.links } : undefined;
  }

  async *scanEvents(tenant: string, fromMs: number, pageSize: number): AsyncIterable<ClassifiedEvent[]> {
    // Served by the tenant_time index, walked forwards.
    const cursor = this.events.find({ tenant, atMs: { $gte: fromMs } }).sort({ atMs: 1, _id: 1 }).batchSize(pageSize);
    let page: ClassifiedEvent[] = [];
    try {
      for await (const d of cursor) {
        page.push(fromJson(ClassifiedEventSchema, d.data));
        if (page.length >= pageSize) {
          yield page;
          page = [];
        }
      }
    } finally {
      await cursor.close();
    }
    if (page.length > 0) yield page;
  }

  async historySequence(tenant: string): Promise<number> {
    return (await this.fences.findOne({ _id: tenant }))?.seq ?? 0;
  }

  async messageEvents(tenant: string, message: string): Promise<ClassifiedEvent[]> {
    const docs = await this.events.find({ tenant, message }).sort({ atMs: 1, _id: 1 }).toArray();
    return docs.map((d) => fromJson(ClassifiedEventSchema, d.data));
  }

  async listEvents(filter: EventFilter, pageSize: number, pageToken: string): Promise<EventPage> {
    const after = decodePageToken(pageToken, (v): v is [number, string] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string');
    const q: Record<string, unknown> = { tenant: filter.tenant };
    if (filter.campaign) q['campaign'] = filter.campaign;
    if (filter.message) q['message'] = filter.message;
    if (filter.actor) q['actor'] = filter.actor;
    if (filter.source) q['source'] = filter.source;
    if (filter.kind) q['kind'] = filter.kind;
    const range: Record<string, number> = {};
    if (Number(filter.fromUnixMs) > 0) range['$gte'] = Number(filter.fromUnixMs);
    if (Number(filter.toUnixMs) > 0) range['$lt'] = Number(filter.toUnixMs);
    if (Object.keys(range).length > 0) q['atMs'] = range;
    if (after) {
      const eventKey = id(filter.tenant, after[1]);
      q['$or'] = [{ atMs: { ...range, $lt: after[0] } }, { atMs: after[0], _id: { $lt: eventKey } }];
    }
    const docs = await this.events.find(q).sort({ atMs: -1, _id: -1 }).limit(pageSize).toArray();
    const events = docs.map((d) => fromJson(ClassifiedEventSchema, d.data)).filter((e) => matchesFilter(e, filter));
    const last = docs[docs.length - 1];
    return {
      events,
      nextPageToken: docs.length === pageSize && last ? encodePageToken([last.atMs, last._id.slice(filter.tenant.length + 1)]) : '',
    };
  }

  async hourBuckets(tenant: string, campaign: string, fromMs: number, toMs: number): Promise<HourBucket[]> {
    const range: Record<string, number> = { $gte: fromMs };
    if (toMs > 0) range['$lt'] = toMs;
    const docs = await this.hours.find({ tenant, campaign, hourStartMs: range }).sort({ hourStartMs: 1 }).toArray();
    return docs
      .map((d) => ({ hourStartMs: d.hourStartMs, opens: toArray(d.opens), clicks: toArray(d.clicks) }))
      .filter((b) => b.opens.some((n) => n !== 0) || b.clicks.some((n) => n !== 0));
  }

  async getPolicy(tenant: string): Promise<SuppressionPolicy | undefined> {
    const d = await this.policies.findOne({ _id: tenant });
    return d ? fromJson(SuppressionPolicySchema, d.data) : undefined;
  }

  async putDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    // The event goes in as protobuf bytes: what a store refused as a document it can still keep so.
    await this.bulk(
      this.deadLetters,
      letters.map((l) => ({
        replaceOne: {
          filter: { _id: id(l.tenant, l.id) },
          replacement: { _id: id(l.tenant, l.id), tenant: l.tenant, campaign: l.event?.event?.campaign ?? '', message: l.event?.event?.message ?? '', deadAtMs: Number(l.deadAtUnixMs), bytes: new Binary(toBinary(DeadLetterSchema, create(DeadLetterSchema, l))) },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  async listDeadLetters(tenant: string, pageSize: number, pageToken: string): Promise<{ deadLetters: DeadLetter[]; nextPageToken: string }> {
    const after = decodePageToken(pageToken, (v): v is string => typeof v === 'string');
    const q: Record<string, unknown> = tenant ? { tenant } : {};
    if (after) q['_id'] = { $gt: after };
    const docs = await this.deadLetters.find(q).sort({ _id: 1 }).limit(pageSize).toArray();
    const last = docs[docs.length - 1];
    return {
      deadLetters: docs.map((d) => fromBinary(DeadLetterSchema, d.bytes.buffer)),
      nextPageToken: docs.length === pageSize && last ? encodePageToken(last._id) : '',
    };
  }

  async deleteDeadLetters(tenant: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.deadLetters.deleteMany({ _id: { $in: ids.map((i) => id(tenant, i)) } })).deletedCount;
  }

  async erase(scope: EraseScope): Promise<EraseResult> {
    const { tenant } = scope;
    const stamp = (key: string) => this.tombstones.updateOne({ _id: key }, { $set: { atMs: Date.now() } }, { upsert: true });
    if ('wholeTenant' in scope) {
      const events = (await this.events.deleteMany({ tenant })).deletedCount;
      const messages = (await this.messages.deleteMany({ tenant })).deletedCount;
      const deadLetters = (await this.deadLetters.deleteMany({ tenant })).deletedCount;
      await this.campaigns.deleteMany({ tenant });
      await this.hours.deleteMany({ tenant });
      for (const c of [this.policies, this.jobs, this.fences] as unknown as Array<Collection<{ _id: string }>>) await c.deleteOne({ _id: tenant });
      await stamp(tombstoneKey('tenant', tenant));
      return { events, messages, deadLetters };
    }
    const filter = 'message' in scope ? { tenant, message: scope.message } : { tenant, campaign: scope.campaign };
    const events = (await this.events.deleteMany(filter)).deletedCount;
    const messages = (await this.messages.deleteMany(filter)).deletedCount;
    const deadLetters = (await this.deadLetters.deleteMany(filter)).deletedCount;
    await stamp('message' in scope ? tombstoneKey('message', tenant, scope.message) : tombstoneKey('campaign', tenant, scope.campaign));
    return { events, messages, deadLetters };
  }

  async tombstonesAmong(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    return new Set((await this.tombstones.find({ _id: { $in: [...new Set(keys)] } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
  }

  async getReclassification(tenant: string): Promise<Reclassification | undefined> {
    const d = await this.jobs.findOne({ _id: tenant });
    return d ? fromBinary(ReclassificationSchema, d.bytes.buffer) : undefined;
  }

  async putReclassification(job: Reclassification): Promise<void> {
    await this.jobs.replaceOne({ _id: job.tenant }, { bytes: new Binary(toBinary(ReclassificationSchema, create(ReclassificationSchema, job))) }, { upsert: true });
  }

  async listReclassifications(): Promise<Reclassification[]> {
    return (await this.jobs.find({}).toArray()).map((d) => fromBinary(ReclassificationSchema, d.bytes.buffer));
  }

  async countEvents(tenant: string): Promise<number> {
    return this.events.countDocuments({ tenant });
  }

  async putPolicy(policy: SuppressionPolicy): Promise<void> {
    const data = toJson(SuppressionPolicySchema, create(SuppressionPolicySchema, policy));
    await this.policies.replaceOne({ _id: policy.tenant }, { tenant: policy.tenant, data }, { upsert: true });
  }

  async listDomains(): Promise<TrackingDomain[]> {
    return (await this.domains.find({}).sort({ _id: 1 }).toArray()).map((d) => fromJson(TrackingDomainSchema, d.data));
  }

  async putDomain(domain: TrackingDomain): Promise<void> {
    const data = toJson(TrackingDomainSchema, create(TrackingDomainSchema, domain));
    await this.domains.replaceOne({ _id: domain.hostname }, { tenant: domain.tenant, data }, { upsert: true });
  }

  async deleteDomain(hostname: string, tenant: string): Promise<boolean> {
    const r = await this.domains.deleteOne({ _id: hostname, tenant });
    return r.deletedCount === 1;
  }

  async putApiKey(key: StoredApiKey): Promise<void> {
    const data = toJson(StoredApiKeySchema, create(StoredApiKeySchema, key));
    await this.apiKeys.replaceOne({ _id: key.info!.keyId }, { tenant: key.info!.tenant, data }, { upsert: true });
  }

  async getApiKey(keyId: string): Promise<StoredApiKey | undefined> {
    const d = await this.apiKeys.findOne({ _id: keyId });
    return d ? fromJson(StoredApiKeySchema, d.data) : undefined;
  }

  async listApiKeys(tenant: string): Promise<StoredApiKey[]> {
    return (await this.apiKeys.find({ tenant }).sort({ _id: 1 }).toArray()).map((d) => fromJson(StoredApiKeySchema, d.data));
  }

  async deleteApiKey(keyId: string): Promise<boolean> {
    return (await this.apiKeys.deleteOne({ _id: keyId })).deletedCount === 1;
  }
}
