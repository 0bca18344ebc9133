import { mkdirSync } from 'node:fs';
import * as lmdb from 'lmdb';
import { open, type Database, type RootDatabase } from 'lmdb';
import { FolderWriterLock } from '../single-writer';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ClassifiedEventSchema,
  DeadLetterSchema,
  encodeClassifiedEvent,
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
import { addDelta, emptyCampaign, type CampaignCounters } from '@winnow/engagement';
import {
  decodePageToken,
  InvalidPageToken,
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
import { bucketKey, campaignKey, messageKey, planDeliveries, planEvents, StoreInputError, type MessageState, type Plan } from '../ledger';
import { DerivedLayer, visible, type HourValue, type JournalEntry, type Key, type Staged } from './derived-layers';

/**
 * How often the journal is applied to the derived databases (a checkpoint), and how many staged
 * records start one sooner. Between checkpoints a batch writes its events and one journal entry (a
 * few pages, mostly in a row) instead of a page at a random place per message it touches.
 */
const CHECKPOINT_MS = 5_000;
const CHECKPOINT_RECORDS = 200_000;
/**
 * A checkpoint not settled by then is taken as failed. lmdb-js 3.5 was seen to leave a transaction's
 * promise unsettled when its commit failed with an I/O error on a disk with a little room left (it
 * printed the error; later transactions went on): waited for, that checkpoint would stop every
 * checkpoint after it. Taken as failed, the next write reads the journal again (which is right
 * whether that commit failed or lands late: journal entries are values).
 */
const CHECKPOINT_TIMEOUT_MS = 30_000;
/** Journal keys: entries by sequence number; the newest entry's number; the newest number applied. */
const JOURNAL_HEAD = 'head';
const JOURNAL_APPLIED = 'applied';

/**
 * A tenant's entries of `db` in key order, from `from` (the tenant's first key by default): read on
 * while the key's first element is the tenant, with no end key. Every `[tenant, ...]` key shares one
 * prefix, so they are together. Two end keys tried before each missed some: `[tenant, '\uffff']` the
 * names beginning with a character above U+FFFF (lmdb orders strings by their UTF-8 bytes), and
 * `[tenant + NUL]` every key of a tenant id of 63 characters, the longest allowed (lmdb's key encoding
 * leaves the NUL of a string of 64 characters or more as it is, and that end then sorted before the
 * tenant's own keys), so erasing such a tenant erased nothing.
 */
function* tenantEntries<V>(db: Database<V, Key>, tenant: string, from: Key = [tenant]): Generator<{ key: Key; value: V }> {
  keyable(tenant);
  for (const entry of db.getRange({ start: from } as never) as Iterable<{ key: Key; value: V }>) {
    if (entry.key[0] !== tenant) return;
    yield entry;
  }
}

/** LMDB's largest key (lmdb-js's default): a longer name can have no key, and is the input's fault. */
const MAX_KEY_BYTES = 1978;
function keyable(tenant: string): void {
  const n = Buffer.byteLength(tenant);
  if (n > MAX_KEY_BYTES) throw new StoreInputError(`a tenant id of ${n} bytes is longer than any key the store can hold (${MAX_KEY_BYTES})`);
}

/** lmdb-js's own key encoding (exported, not in its type declarations). */
const encodeKey = (lmdb as unknown as { keyValueToBuffer(key: Key): Buffer }).keyValueToBuffer;
/**
 * Refuses a key LMDB could not hold, as LMDB itself would at a write (the same message, so that the
 * failure is read the same way). The timeline entry's key is the longest derived key of an event.
 */
function fitsInKey(key: Key): void {
  // Most keys are far from the limit (UTF-8 takes at most 3 bytes per UTF-16 unit; 64 covers the encoding's own bytes).
  let units = 0;
  for (const part of key) if (typeof part === 'string') units += part.length;
  if (units * 3 + 64 <= MAX_KEY_BYTES) return;
  const n = encodeKey(key).length;
  if (n > MAX_KEY_BYTES) throw new StoreInputError(`Key size is larger than the maximum key size (${MAX_KEY_BYTES}): its names make a key of ${n} bytes`);
}

/**
 * A write's promise, with the second promise lmdb-js makes when a commit fails (`commitError`, the
 * disk's own error) taken care of: left alone, that one is an unhandled rejection, and Node ends the
 * process for it (a full disk took the statistics service down instead of failing the batch, which
 * the pipeline retries).
 */
function committed<T>(write: Promise<T>): Promise<T> {
  return write.catch((err: unknown) => {
    const cause = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
    if (cause && typeof cause.catch === 'function') cause.catch(() => undefined);
    throw err;
  });
}

/**
 * lmdb-js starts each event turn's batch of writes with a promise it never awaits; when that batch's
 * commit fails (a full disk), the promise rejects with no handler, and Node ends the process for an
 * unhandled rejection, although the failure already reached the write that asked for it (and the
 * pipeline retries it). In a process with no handler of its own (the statistics service), those
 * rejections are let go; any other is thrown on, so Node reports it and ends the process as it would
 * have. A process with its own handler (a test runner) decides for itself.
 */
const LMDB_COMMIT_FAILED = 'Commit failed (see commitError for details)';
let strayCommitRejectionsHandled = false;
function handleStrayCommitRejections(): void {
  if (strayCommitRejectionsHandled || process.listenerCount('unhandledRejection') > 0) return;
  strayCommitRejectionsHandled = true;
  process.on('unhandledRejection', (reason) => {
    if (reason instanceof Error && reason.message === LMDB_COMMIT_FAILED && 'commitError' in reason) return;
    throw reason;
  });
}

/** The keys of a tenant's entries of `db` (see tenantEntries). */
function tenantKeys(db: Database<any, Key>, tenant: string): Key[] {
  keyable(tenant);
  const out: Key[] = [];
  for (const key of db.getKeys({ start: [tenant] } as never) as Iterable<Key>) {
    if (key[0] !== tenant) break;
    out.push(key);
  }
  return out;
}
const bin = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
/** In the messages database, a timeline entry's key ([tenant, message, atMs, eventId]) rather than a state's. */
const isTimelineKey = (key: Key) => key.length === 4;

/**
 * The embedded store: LMDB on local disk, no external service. Every batch is one write
 * transaction, committed durably (fsync) before the promise resolves.
 *
 * The derived records a batch changes (message states, timeline entries, campaign counters, hour
 * buckets) go first to a journal, one entry per batch in the batch's transaction, and are kept in
 * memory (`layers`, read before the databases); every few seconds a checkpoint writes them to their
 * databases in one transaction and deletes the journal entries it applied. After a crash, opening
 * the store reads the journal back. Each entry holds values, not deltas, so applying one twice does
 * no harm. docs/architecture.md, "Session 15".
 *
 * Databases (keys are ordered tuples):
 *   events     [tenant, eventId]                 -> ClassifiedEvent (protobuf binary)
 *   byTime     [tenant, atMs, eventId]           -> null (listing, newest first)
 *   messages   [tenant, message]                 -> MessageState
 *              [tenant, message, atMs, eventId]  -> null (the message's timeline, right after its state)
 *   campaigns  [tenant, campaign]                -> CampaignCounters
 *   hours      [tenant, campaign, hourStartMs]   -> { opens, clicks }
 *   policies   tenant                            -> SuppressionPolicy (binary)
 *   domains    hostname                          -> TrackingDomain (binary)
 *   apiKeys    key id                            -> StoredApiKey (binary; a hash, never the secret)
 *   fences     tenant                            -> history sequence (see EventStore.recordEvents)
 *   deadLetters [tenant, id]                     -> DeadLetter (binary)
 *   jobs       tenant                            -> Reclassification checkpoint (binary)
 *   tombstones tombstoneKey(...)                 -> when it was erased
 *   journal    sequence number                   -> JournalEntry (derived records not yet applied)
 *              'head' / 'applied'                -> the newest entry's number / the newest applied
 */
export class LmdbEventStore implements EventStore {
  private readonly root: RootDatabase;
  private readonly events: Database<Buffer, Key>;
  private readonly byTime: Database<null, Key>;
  /** Message states and, sorted right after each, its timeline entries (see `timeline`). */
  private readonly messages: Database<MessageState | null, Key>;
  private readonly campaigns: Database<CampaignCounters, Key>;
  private readonly hours: Database<{ opens: number[]; clicks: number[] }, Key>;
  private readonly policies: Database<Buffer, string>;
  private readonly domains: Database<Buffer, string>;
  private readonly apiKeys: Database<Buffer, string>;
  private readonly fences: Database<number, string>;
  private readonly deadLetters: Database<Buffer, Key>;
  private readonly jobs: Database<Buffer, string>;
  private readonly tombstones: Database<number, string>;
  private readonly journal: Database<JournalEntry | number, number | string>;

  /**
   * Derived records of journal entries not yet applied to the derived databases, newest first:
   * `layers[0]` takes new batches; an older one is being written by a checkpoint and goes when that
   * commits.
   */
  private layers: DerivedLayer[] = [new DerivedLayer()];
  /** The newest journal entry written (by this process's transactions, committed or not yet). */
  private journalSeq = 0;
  /** The newest journal entry applied to the derived databases (idem). */
  private appliedSeq = 0;
  /**
   * The newest journal entry known to be committed: reads outside a write transaction take no staged
   * value written after it, so a query never sees a batch whose transaction may still fail.
   */
  private committedSeq = 0;
  /** Write transaction callbacks running (they read everything staged, committed or not). */
  private writing = 0;
  /** A checkpoint failed to commit: the layers may hold what the databases do not; read the journal again. */
  private rebuildNeeded = false;
  private checkpointing?: Promise<void>;
  private checkpointTimer?: NodeJS.Timeout;
  private checkpointSoon?: NodeJS.Immediate;
  private closing = false;
  private closed = false;

  /** One writing process at a time (its batches read counters before they write them). */
  private readonly writer: FolderWriterLock;

  private sweeper?: NodeJS.Timeout;

  /**
   * `retentionDays`: raw events, and per-message records with no event left, go this many days after
   * they happened (swept hourly and at start); dead letters this many days after they were kept.
   * 0 keeps them. `checkpointEveryMs`: how often the journal is applied (default 5 s; a checkpoint
   * also starts when 200,000 records are staged). `checkpointTimeoutMs`: when a checkpoint whose
   * transaction has not settled is taken as failed (default 30 s).
   */
  constructor(dir: string, private readonly opts: { retentionDays?: number; checkpointEveryMs?: number; checkpointTimeoutMs?: number } = {}) {
    mkdirSync(dir, { recursive: true });
    handleStrayCommitRejections();
    this.writer = new FolderWriterLock(dir);
    this.writer.acquire();
    try {
      this.root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
    } catch (err) {
      this.writer.release();
      throw err;
    }
    this.events = this.root.openDB({ name: 'events', encoding: 'binary' });
    this.byTime = this.root.openDB({ name: 'byTime' });
    this.messages = this.root.openDB({ name: 'messages' });
    this.campaigns = this.root.openDB({ name: 'campaigns' });
    this.hours = this.root.openDB({ name: 'hours' });
    this.policies = this.root.openDB({ name: 'policies', encoding: 'binary' });
    this.fences = this.root.openDB({ name: 'fences' });
    this.deadLetters = this.root.openDB({ name: 'deadLetters', encoding: 'binary' });
    this.jobs = this.root.openDB({ name: 'jobs', encoding: 'binary' });
    this.tombstones = this.root.openDB({ name: 'tombstones' });
    this.domains = this.root.openDB({ name: 'domains', encoding: 'binary' });
    this.apiKeys = this.root.openDB({ name: 'apiKeys', encoding: 'binary' });
    this.journal = this.root.openDB({ name: 'journal' });
    this.moveOldTimelines();
    this.readJournal();
    this.checkpointTimer = setInterval(() => void this.checkpoint().catch(() => undefined), opts.checkpointEveryMs ?? CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /**
   * Makes the layers hold exactly the journal entries not yet applied (at opening, and whenever a
   * transaction of this process that wrote or applied entries did not commit).
   */
  private readJournal(): void {
    const layer = new DerivedLayer();
    // Inside a write transaction the journal read may hold this transaction's own entries, not yet
    // committed: what is known committed stays as it was (the transaction's commit moves it on).
    const committedUpTo = this.writing > 0 ? this.committedSeq : Number.MAX_SAFE_INTEGER;
    for (const { key, value } of this.journal.getRange({ start: 0, end: Number.MAX_SAFE_INTEGER }) as Iterable<{ key: number; value: JournalEntry }>) {
      layer.add(value, key, committedUpTo);
    }
    this.layers = [layer];
    this.journalSeq = (this.journal.get(JOURNAL_HEAD) as number | undefined) ?? 0;
    if (this.writing === 0) this.committedSeq = this.journalSeq;
    this.appliedSeq = (this.journal.get(JOURNAL_APPLIED) as number | undefined) ?? 0;
    this.rebuildNeeded = false;
  }

  /**
   * At the start of a write transaction: the layers agree with the journal as this transaction sees
   * it. They do not when an earlier transaction that wrote or applied entries failed to commit (a full
   * disk or map): its entries are then not in the journal, or its applied ones still are.
   */
  private ensureCurrent(): void {
    const head = (this.journal.get(JOURNAL_HEAD) as number | undefined) ?? 0;
    const applied = (this.journal.get(JOURNAL_APPLIED) as number | undefined) ?? 0;
    if (this.rebuildNeeded || head !== this.journalSeq || applied !== this.appliedSeq) this.readJournal();
  }

  /** Writes the layers' records to the derived databases and deletes their journal entries (inside a write transaction). */
  private apply(layers: readonly DerivedLayer[]): void {
    let upTo = this.appliedSeq;
    // Oldest first, so a newer value of a key lands last.
    for (const layer of [...layers].reverse()) {
      for (const { key, value } of layer.states.values()) this.messages.putSync(key, value);
      for (const list of layer.timelines.values()) for (const { key } of list) this.messages.putSync(key, null);
      for (const { key, value } of layer.campaigns.values()) this.campaigns.putSync(key, value);
      for (const { key, value } of layer.hours.values()) this.hours.putSync(key, value);
      upTo = Math.max(upTo, layer.seq);
    }
    for (const key of [...this.journal.getKeys({ start: 0, end: upTo + 1 })]) this.journal.removeSync(key);
    this.journal.putSync(JOURNAL_APPLIED, upTo);
    this.appliedSeq = upTo;
  }

  /**
   * Applies everything staged, inside a write transaction that then reads or deletes derived records
   * directly (erasure, the retention sweep). The applied layers stay readable until that transaction
   * commits (`settleApplied`); what it deletes is taken out of them (`forget`), or a later batch could
   * read back a record the transaction deleted.
   */
  private applyAllInTransaction(): DerivedLayer[] {
    this.ensureCurrent();
    const sealed = this.layers.slice();
    this.apply(sealed);
    this.layers = [new DerivedLayer(), ...sealed];
    return sealed;
  }

  /** Takes a message's records (`message` undefined: all of a tenant's) out of the layers. */
  private forget(tenant: string, message?: string): void {
    const prefix = `${tenant}\u0000`;
    const mk = message === undefined ? undefined : messageKey(tenant, message);
    for (const l of this.layers) {
      for (const map of [l.states, l.timelines] as Array<Map<string, unknown>>) {
        for (const k of [...map.keys()]) if (mk === undefined ? k.startsWith(prefix) : k === mk) map.delete(k);
      }
      if (mk !== undefined) continue;
      for (const map of [l.campaigns, l.hours] as Array<Map<string, unknown>>) {
        for (const k of [...map.keys()]) if (k.startsWith(prefix)) map.delete(k);
      }
    }
  }

  /** Takes a tenant's timeline entries of the events `ids` out of the layers. */
  private forgetTimelineEntries(tenant: string, ids: ReadonlySet<string>): void {
    const prefix = `${tenant}\u0000`;
    for (const l of this.layers) {
      for (const [k, list] of l.timelines) if (k.startsWith(prefix)) l.timelines.set(k, list.filter((t) => !ids.has(String(t.key[3]))));
    }
  }

  /**
   * After a transaction that applied `sealed`: when it committed, they leave the layers (the databases
   * hold them now); when it did not, the journal still holds them, and an empty write transaction
   * reads it back at once (a query would otherwise miss them until the next batch).
   */
  private settleApplied<T>(sealed: readonly DerivedLayer[], work: Promise<T>): Promise<T> {
    return work.then(
      (result) => {
        this.layers = this.layers.filter((l) => !sealed.includes(l));
        return result;
      },
      (err: unknown) => {
        this.rebuildNeeded = true;
        if (!this.closed) void this.tx(() => this.ensureCurrent()).catch(() => undefined);
        throw err;
      },
    );
  }

  /**
   * Writes what the layers hold to the derived databases in one transaction and deletes those journal
   * entries. The layer it writes stays readable until the transaction commits.
   */
  checkpoint(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.checkpointing) return this.checkpointing;
    if (this.layers.length === 1 && this.layers[0]!.size === 0) return Promise.resolve();
    let sealed: DerivedLayer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let giveUp: (err: Error) => void = () => undefined;
    const late = new Promise<never>((_, reject) => (giveUp = reject));
    let started: Promise<void>;
    try {
      started = this.tx(() => {
        // Timed from here: waiting behind other transactions is not a checkpoint that failed.
        const timeoutMs = this.opts.checkpointTimeoutMs ?? CHECKPOINT_TIMEOUT_MS;
        timer = setTimeout(() => {
          this.rebuildNeeded = true;
          giveUp(new Error(`a checkpoint of the embedded store did not complete within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        timer.unref();
        sealed = this.applyAllInTransaction();
      });
    } catch (err) {
      // lmdb-js refuses at once a transaction it cannot queue (a closed database).
      return Promise.reject(err);
    }
    const run = started.then(
      () => {
        this.layers = this.layers.filter((l) => !sealed.includes(l));
      },
      (err: unknown) => {
        this.rebuildNeeded = true;
        throw err;
      },
    );
    // Whoever waits for it (or no one), a late commit's result is not an unhandled rejection.
    run.catch(() => undefined);
    const settled: Promise<void> = Promise.race([run, late]).finally(() => {
      clearTimeout(timer);
      if (this.checkpointing === settled) this.checkpointing = undefined;
    });
    this.checkpointing = settled;
    return settled;
  }

  /** A write transaction (see `committed`). */
  private tx<T>(work: () => T): Promise<T> {
    return this.written((callback) => this.root.transaction(callback), work);
  }

  /** A child write transaction, which leaves nothing behind when `work` throws (see `committed`). */
  private childTx<T>(work: () => T): Promise<T> {
    return this.written((callback) => this.root.childTransaction(callback) as Promise<T>, work);
  }

  /**
   * Runs `work` as a write transaction's callback (reads in it see everything staged), and once the
   * transaction commits, takes every journal entry it holds as committed (so are all before it). What
   * it holds is the journal's head as the transaction saw it, not this process's count, which still
   * includes a batch whose commit failed until the next write reads the journal again (a transaction
   * that writes no entry, a dead letter say, would otherwise pass that batch for committed).
   */
  private written<T>(begin: (callback: () => T) => Promise<T>, work: () => T): Promise<T> {
    let head = 0;
    const callback = (): T => {
      this.writing++;
      try {
        return work();
      } finally {
        this.writing--;
        head = (this.journal.get(JOURNAL_HEAD) as number | undefined) ?? 0;
      }
    };
    return committed(begin(callback)).then((result) => {
      this.committedSeq = Math.max(this.committedSeq, head);
      return result;
    });
  }

  /** Staged values a read may take: inside a write transaction all, outside only committed ones. */
  private get readableUpTo(): number {
    return this.writing > 0 ? Number.POSITIVE_INFINITY : this.committedSeq;
  }

  /** The newest staged value under `key` in one of the layers' maps that this read may take, or undefined. */
  private staged<V>(pick: (l: DerivedLayer) => Map<string, Staged<V>>, key: string): V | undefined {
    const upTo = this.readableUpTo;
    for (const l of this.layers) {
      const v = visible(pick(l).get(key), upTo);
      if (v) return v.value;
    }
    return undefined;
  }

  private stateOf(tenant: string, message: string): MessageState | undefined {
    const v = this.staged((l) => l.states, messageKey(tenant, message));
    // A copy: planning changes the states it reads, and a batch that fails must leave the layers as they were.
    if (v) return { ...v, opens: [...v.opens], clicks: [...v.clicks] };
    return (this.messages.get([tenant, message]) as MessageState | null | undefined) ?? undefined;
  }

  private campaignOf(tenant: string, campaign: string): CampaignCounters | undefined {
    return this.staged((l) => l.campaigns, campaignKey(tenant, campaign)) ?? this.campaigns.get([tenant, campaign]);
  }

  private hourOf(tenant: string, campaign: string, hourStartMs: number): HourValue | undefined {
    return this.staged((l) => l.hours, bucketKey(tenant, campaign, hourStartMs)) ?? this.hours.get([tenant, campaign, hourStartMs]);
  }

  /**
   * Stores written before 2026-12 kept the message timelines in a database of their own
   * (`byMessage`, same keys): each stored event then changed two pages at random places in the file,
   * the message's state and its timeline entry, and the commit's flush of those scattered pages was
   * what the pipeline waited on (docs/architecture.md, "Session 14"). Moves them beside the states,
   * 10,000 to a transaction (each moves its keys and removes them from the old database at once, so
   * a crash part-way leaves every key in exactly one of the two and the next start goes on), then
   * deletes the old database.
   */
  private moveOldTimelines(): void {
    // lmdb-js gives undefined for a database that is not there (a store made since has none).
    const old = this.root.openDB({ name: 'byMessage', create: false } as never) as Database<null, Key> | undefined;
    if (!old) return;
    for (;;) {
      const keys = [...old.getKeys({ limit: 10_000 } as never)] as Key[];
      if (keys.length === 0) break;
      this.root.transactionSync(() => {
        for (const key of keys) {
          this.messages.putSync(key, null);
          old.removeSync(key);
        }
      });
    }
    old.dropSync();
  }

  /** The keys of a message's timeline entries ([tenant, message, atMs, eventId]), oldest first. */
  private timeline(tenant: string, message: string, limit?: number): Key[] {
    const staged: Key[] = [];
    const mk = messageKey(tenant, message);
    const upTo = this.readableUpTo;
    for (const l of this.layers) for (const t of l.timelines.get(mk) ?? []) if (t.seq <= upTo) staged.push(t.key);
    const out: Key[] = [];
    // The range starts at the message's state ([tenant, message] sorts before everything it prefixes).
    for (const key of this.messages.getKeys({ start: [tenant, message], end: [tenant, message, Infinity] }) as Iterable<Key>) {
      if (!isTimelineKey(key)) continue;
      out.push(key);
      if (staged.length === 0 && out.length === limit) return out;
    }
    if (staged.length === 0) return out;
    // Entries staged and not yet applied (one being applied may be in both): merged in time order.
    const seen = new Set(out.map((k) => String(k[3])));
    for (const key of staged) {
      if (seen.has(String(key[3]))) continue;
      seen.add(String(key[3]));
      out.push(key);
    }
    out.sort((a, b) => Number(a[2]) - Number(b[2]) || (String(a[3]) < String(b[3]) ? -1 : String(a[3]) > String(b[3]) ? 1 : 0));
    return limit === undefined ? out : out.slice(0, limit);
  }

  async init(): Promise<void> {
    // The databases were opened in the constructor; LMDB needs no indexes or schema.
    if ((this.opts.retentionDays ?? 0) > 0 && !this.sweeper) {
      await this.sweepExpired();
      this.sweeper = setInterval(() => void this.sweepExpired().catch(() => undefined), 3_600_000);
      this.sweeper.unref();
    }
  }

  /**
   * Deletes raw events older than the retention period, the per-message records of messages left with
   * no event, and dead letters kept longer than it; counters and hour buckets stay. Returns how many
   * raw events went. One pass over the message index, in write transactions of at most 10,000 events.
   */
  async sweepExpired(now = Date.now()): Promise<number> {
    const days = this.opts.retentionDays ?? 0;
    if (days <= 0) return 0;
    const cutoff = now - days * 86_400_000;
    let removed = 0;
    // The rounds read timeline entries from the database: what is staged goes there first (and each
    // round's transaction applies what came since; a checkpoint that fails here is not the sweep's).
    await this.checkpoint().catch(() => undefined);
    // Each round goes on from where the last one stopped: its keys are gone, the ones before kept.
    let from: Key | undefined;
    for (;;) {
      const batch: Key[] = [];
      for (const key of this.messages.getKeys(from ? ({ start: from } as never) : undefined) as Iterable<Key>) {
        if (isTimelineKey(key) && Number(key[2]) < cutoff) batch.push(key);
        if (batch.length >= 10_000) break;
      }
      if (batch.length === 0) break;
      const sealed: DerivedLayer[] = [];
      await this.settleApplied(
        sealed,
        this.tx(() => {
          sealed.push(...this.applyAllInTransaction());
          const touched = new Map<string, [string, string]>();
          const ids = new Map<string, Set<string>>();
          for (const key of batch) {
            const [tenant, message, atMs, id] = [String(key[0]), String(key[1]), key[2]!, String(key[3])];
            this.events.removeSync([tenant, id]);
            this.byTime.removeSync([tenant, atMs, id]);
            this.messages.removeSync(key);
            touched.set(`${tenant}\u0000${message}`, [tenant, message]);
            (ids.get(tenant) ?? ids.set(tenant, new Set()).get(tenant)!).add(id);
          }
          for (const [tenant, gone] of ids) this.forgetTimelineEntries(tenant, gone);
          for (const [tenant, message] of touched.values()) {
            if (this.timeline(tenant, message, 1).length === 0) {
              this.messages.removeSync([tenant, message]);
              this.forget(tenant, message);
            }
          }
        }),
      );
      removed += batch.length;
      if (batch.length < 10_000) break;
      from = batch[batch.length - 1];
    }
    const old: Key[] = [];
    for (const { key, value } of this.deadLetters.getRange() as Iterable<{ key: Key; value: Buffer }>) {
      if (Number(fromBinary(DeadLetterSchema, value).deadAtUnixMs) < cutoff) old.push(key);
    }
    if (old.length > 0) await this.tx(() => old.forEach((k) => this.deadLetters.removeSync(k)));
    return removed;
  }

  async ping(): Promise<void> {
    this.root.getStats();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.checkpointTimer);
    if (this.checkpointSoon) clearImmediate(this.checkpointSoon);
    if (!this.closing) {
      this.closing = true;
      // A clean close leaves the journal empty (a crash leaves it to be read back at opening).
      await this.checkpoint().catch(() => undefined);
    }
    this.closed = true;
    await this.root.close();
    this.writer.release();
  }

  private loadMessage(map: Map<string, MessageState>, tenant: string, message: string): void {
    const k = messageKey(tenant, message);
    if (map.has(k)) return;
    const m = this.stateOf(tenant, message);
    if (m) map.set(k, m);
  }

  /**
   * Writes a batch's events, and its derived records as one journal entry; the layers take them only
   * once every write of the batch went through (a batch that throws leaves them as they were).
   */
  private write(plan: Plan): void {
    const entry: JournalEntry = { m: [], t: [], c: [], h: [] };
    for (const { value, replaced } of plan.events) {
      const ev = value.event!;
      this.events.putSync([ev.tenant, ev.id], encodeClassifiedEvent(value));
      if (!replaced) {
        const at = Number(ev.atUnixMs);
        this.byTime.putSync([ev.tenant, at, ev.id], null);
        const key = [ev.tenant, ev.message, at, ev.id];
        // Derived keys are checked now, with their batch: at a checkpoint, a key the database cannot
        // hold would stop every checkpoint after it.
        fitsInKey(key);
        entry.t.push(key);
      }
    }
    for (const m of plan.messages.values()) {
      const key = [m.tenant, m.message];
      fitsInKey(key);
      entry.m.push([key, m]);
    }
    for (const d of plan.campaigns.values()) {
      fitsInKey([d.tenant, d.campaign]);
      const next = addDelta(this.campaignOf(d.tenant, d.campaign) ?? emptyCampaign(), d.counters);
      next.delivered += d.delivered;
      entry.c.push([[d.tenant, d.campaign], next]);
    }
    for (const b of plan.buckets.values()) {
      fitsInKey([b.tenant, b.campaign, b.hourStartMs]);
      const cur = this.hourOf(b.tenant, b.campaign, b.hourStartMs);
      entry.h.push([
        [b.tenant, b.campaign, b.hourStartMs],
        { opens: b.opens.map((v, i) => v + (cur?.opens[i] ?? 0)), clicks: b.clicks.map((v, i) => v + (cur?.clicks[i] ?? 0)) },
      ]);
    }
    // A batch that changed nothing (all duplicates) leaves no entry.
    if (entry.m.length + entry.t.length + entry.c.length + entry.h.length === 0) return;
    const seq = this.journalSeq + 1;
    this.journal.putSync(seq, entry);
    this.journal.putSync(JOURNAL_HEAD, seq);
    this.journalSeq = seq;
    this.layers[0]!.add(entry, seq, this.committedSeq);
    // Started outside this transaction's callbacks (a transaction cannot be queued from inside one).
    if (this.layers[0]!.size >= CHECKPOINT_RECORDS && !this.closing && !this.checkpointSoon) {
      this.checkpointSoon = setImmediate(() => {
        this.checkpointSoon = undefined;
        void this.checkpoint().catch(() => undefined);
      });
    }
  }

  recordEvents(batch: readonly ClassifiedEvent[], fences?: ReadonlyMap<string, number>, revisions: readonly Revision[] = []): Promise<RecordEventsResult> {
    // Reads and the plan run inside the write transaction, so concurrent batches serialize. A child
    // transaction: lmdb-js runs every queued callback in one shared write transaction and does not
    // roll back one that throws, so a batch failing half-way (a key past LMDB's size, say) would
    // leave its first writes and its moved fences behind; in a child it leaves nothing.
    return this.childTx(() => {
      this.ensureCurrent();
      // Every fence is checked before any is moved.
      for (const [tenant, expected] of fences ?? []) {
        const found = this.fences.get(tenant) ?? 0;
        if (found !== expected) throw new StaleHistoryError(tenant, expected, found);
      }
      for (const [tenant, expected] of fences ?? []) this.fences.putSync(tenant, expected + 1);
      const stored = new Map<string, ClassifiedEvent>();
      const messages = new Map<string, MessageState>();
      const load = (tenant: string, id: string, message: string) => {
        const raw = this.events.get([tenant, id]);
        if (raw) stored.set(messageKey(tenant, id), fromBinary(ClassifiedEventSchema, raw));
        this.loadMessage(messages, tenant, message);
      };
      for (const e of batch) if (e.event) load(e.event.tenant, e.event.id, e.event.message);
      for (const r of revisions) if (r.verdict?.eventId && !stored.has(messageKey(r.tenant, r.verdict.eventId))) load(r.tenant, r.verdict.eventId, r.message);
      const { plan, result } = planEvents(batch, stored, messages, revisions);
      this.write(plan);
      return result;
    });
  }

  recordDeliveries(batch: readonly Delivery[]): Promise<RecordDeliveriesResult> {
    return this.childTx(() => {
      this.ensureCurrent();
      const messages = new Map<string, MessageState>();
      for (const d of batch) this.loadMessage(messages, d.tenant, d.message);
      const { plan, result } = planDeliveries(batch, messages);
      this.write(plan);
      return result;
    });
  }

  async historySequence(tenant: string): Promise<number> {
    return this.fences.get(tenant) ?? 0;
  }

  async campaignCounters(tenant: string, campaign: string): Promise<CampaignCounters> {
    return this.campaignOf(tenant, campaign) ?? emptyCampaign();
  }

  async message(tenant: string, message: string): Promise<MessageRecord | undefined> {
    const m = this.stateOf(tenant, message);
    return m ? { tenant, message, campaign: m.campaign, deliveredAtMs: m.deliveredAtMs, links: m.links } : undefined;
  }

  private eventById(tenant: string, id: string): ClassifiedEvent | undefined {
    const raw = this.events.get([tenant, id]);
    return raw && fromBinary(ClassifiedEventSchema, raw);
  }

  async *scanEvents(tenant: string, fromMs: number, pageSize: number): AsyncIterable<ClassifiedEvent[]> {
    let page: ClassifiedEvent[] = [];
    for (const key of this.byTime.getKeys({ start: [tenant, fromMs], end: [tenant, Infinity] })) {
      const e = this.eventById(tenant, String(key[2]));
      if (e) page.push(e);
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  async messageEvents(tenant: string, message: string): Promise<ClassifiedEvent[]> {
    const out: ClassifiedEvent[] = [];
    for (const key of this.timeline(tenant, message)) {
      const e = this.eventById(tenant, String(key[3]));
      if (e) out.push(e);
    }
    return out;
  }

  async listEvents(filter: EventFilter, pageSize: number, pageToken: string): Promise<EventPage> {
    const after = decodePageToken(pageToken, (v): v is [number, string] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string');
    const t = filter.tenant;
    const to = Number(filter.toUnixMs) > 0 ? Number(filter.toUnixMs) : Infinity;
    const from = Number(filter.fromUnixMs);
    const events: ClassifiedEvent[] = [];
    let last: [number, string] | undefined;
    // Newest first: walk the time index backwards from the page token (or the upper bound).
    const start: Key = after ? [t, after[0], after[1]] : [t, to];
    for (const key of this.byTime.getKeys({ start, end: [t, from], reverse: true })) {
      const at = Number(key[1]);
      const id = String(key[2]);
      if (after && at === after[0] && id === after[1]) continue;
      const e = this.eventById(t, id);
      if (!e || !matchesFilter(e, filter)) continue;
      events.push(e);
      last = [at, id];
      if (events.length === pageSize) break;
    }
    return { events, nextPageToken: events.length === pageSize && last ? encodePageToken(last) : '' };
  }

  async hourBuckets(tenant: string, campaign: string, fromMs: number, toMs: number): Promise<HourBucket[]> {
    const end = toMs > 0 ? toMs : Infinity;
    const byHour = new Map<number, HourBucket>();
    for (const { key, value } of this.hours.getRange({ start: [tenant, campaign, fromMs], end: [tenant, campaign, end] })) {
      byHour.set(Number(key[2]), { hourStartMs: Number(key[2]), opens: value.opens, clicks: value.clicks });
    }
    // Staged buckets, oldest layer first so the newest value of an hour is the one kept.
    const upTo = this.readableUpTo;
    for (const l of [...this.layers].reverse()) {
      for (const staged of l.hours.values()) {
        const v = visible(staged, upTo);
        if (!v) continue;
        const { key, value } = v;
        const hour = Number(key[2]);
        if (key[0] === tenant && key[1] === campaign && hour >= fromMs && hour < end) byHour.set(hour, { hourStartMs: hour, opens: value.opens, clicks: value.clicks });
      }
    }
    return [...byHour.values()].sort((a, b) => a.hourStartMs - b.hourStartMs);
  }

  async getPolicy(tenant: string): Promise<SuppressionPolicy | undefined> {
    const raw = this.policies.get(tenant);
    return raw && fromBinary(SuppressionPolicySchema, raw);
  }

  async putDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    await this.tx(() => {
      for (const l of letters) void this.deadLetters.put([l.tenant, l.id], bin(toBinary(DeadLetterSchema, create(DeadLetterSchema, l))));
    });
  }

  async listDeadLetters(tenant: string, pageSize: number, pageToken: string): Promise<{ deadLetters: DeadLetter[]; nextPageToken: string }> {
    const after = decodePageToken(pageToken, (v): v is [string, string] => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string'));
    // A page token names where the last page ended; one from another tenant's listing (or made up)
    // would start this tenant's range in another tenant's records.
    if (after && tenant && after[0] !== tenant) throw new InvalidPageToken();
    const entries = tenant ? tenantEntries(this.deadLetters, tenant, after ?? [tenant]) : (this.deadLetters.getRange({ start: after ?? undefined } as never) as Iterable<{ key: Key; value: Buffer }>);
    const out: DeadLetter[] = [];
    let last: Key | undefined;
    for (const { key, value } of entries) {
      if (after && key[0] === after[0] && key[1] === after[1]) continue;
      if (out.length === pageSize) return { deadLetters: out, nextPageToken: encodePageToken(last) };
      out.push(fromBinary(DeadLetterSchema, value));
      last = key;
    }
    return { deadLetters: out, nextPageToken: '' };
  }

  async deleteDeadLetters(tenant: string, ids: readonly string[]): Promise<number> {
    return this.tx(() => {
      let n = 0;
      for (const id of ids) if (this.deadLetters.removeSync([tenant, id])) n++;
      return n;
    });
  }

  async erase(scope: EraseScope): Promise<EraseResult> {
    const { tenant } = scope;
    const sealed: DerivedLayer[] = [];
    return this.settleApplied(sealed, this.childTx(() => {
      keyable(tenant);
      // Erasure reads and deletes derived records in their databases: everything staged goes there
      // first (and its journal entries, which hold the same records, go with it).
      sealed.push(...this.applyAllInTransaction());
      const result: EraseResult = { events: 0, messages: 0, deadLetters: 0 };
      const under = (db: Database<any, Key>) => tenantKeys(db, tenant);
      if ('wholeTenant' in scope) {
        result.events = under(this.events).length;
        result.messages = under(this.messages).filter((k) => !isTimelineKey(k)).length;
        result.deadLetters = under(this.deadLetters).length;
        for (const db of [this.events, this.byTime, this.messages, this.campaigns, this.hours, this.deadLetters] as Array<Database<any, Key>>) {
          for (const key of under(db)) db.removeSync(key);
        }
        this.policies.removeSync(tenant);
        this.jobs.removeSync(tenant);
        this.fences.removeSync(tenant);
        this.tombstones.putSync(tombstoneKey('tenant', tenant), Date.now());
        this.forget(tenant);
        return result;
      }
      const messages: string[] = [];
      if ('message' in scope) messages.push(scope.message);
      else {
        for (const { key, value } of tenantEntries(this.messages, tenant)) {
          if (!isTimelineKey(key) && value!.campaign === scope.campaign) messages.push(String(key[1]));
        }
      }
      for (const message of messages) {
        for (const key of this.timeline(tenant, message)) {
          this.events.removeSync([tenant, String(key[3])]);
          this.byTime.removeSync([tenant, key[2]!, String(key[3])]);
          this.messages.removeSync(key);
          result.events++;
        }
        if (this.messages.removeSync([tenant, message])) result.messages++;
        this.forget(tenant, message);
      }
      const erased = new Set(messages);
      for (const { key, value } of [...tenantEntries(this.deadLetters, tenant)]) {
        const ev = fromBinary(DeadLetterSchema, value as Buffer).event?.event;
        if (ev && (erased.has(ev.message) || ('campaign' in scope && ev.campaign === scope.campaign))) {
          this.deadLetters.removeSync(key as Key);
          result.deadLetters++;
        }
      }
      this.tombstones.putSync('message' in scope ? tombstoneKey('message', tenant, scope.message) : tombstoneKey('campaign', tenant, scope.campaign), Date.now());
      return result;
    }));
  }

  async tombstonesAmong(keys: readonly string[]): Promise<Set<string>> {
    return new Set(keys.filter((k) => this.tombstones.get(k) !== undefined));
  }

  async getReclassification(tenant: string): Promise<Reclassification | undefined> {
    const raw = this.jobs.get(tenant);
    return raw && fromBinary(ReclassificationSchema, raw);
  }

  async putReclassification(job: Reclassification): Promise<void> {
    await committed(this.jobs.put(job.tenant, bin(toBinary(ReclassificationSchema, create(ReclassificationSchema, job)))));
  }

  async listReclassifications(): Promise<Reclassification[]> {
    return [...this.jobs.getRange()].map(({ value }) => fromBinary(ReclassificationSchema, value));
  }

  async countEvents(tenant: string): Promise<number> {
    return this.byTime.getKeysCount({ start: [tenant], end: [tenant, Infinity] });
  }

  async putPolicy(policy: SuppressionPolicy): Promise<void> {
    await committed(this.policies.put(policy.tenant, bin(toBinary(SuppressionPolicySchema, create(SuppressionPolicySchema, policy)))));
  }

  async listDomains(): Promise<TrackingDomain[]> {
    return [...this.domains.getRange()].map(({ value }) => fromBinary(TrackingDomainSchema, value));
  }

  async putDomain(domain: TrackingDomain): Promise<void> {
    await committed(this.domains.put(domain.hostname, bin(toBinary(TrackingDomainSchema, create(TrackingDomainSchema, domain)))));
  }

  async deleteDomain(hostname: string, tenant: string): Promise<boolean> {
    return this.tx(() => {
      const raw = this.domains.get(hostname);
      if (!raw || fromBinary(TrackingDomainSchema, raw).tenant !== tenant) return false;
      void this.domains.remove(hostname);
      return true;
    });
  }

  async putApiKey(key: StoredApiKey): Promise<void> {
    await committed(this.apiKeys.put(key.info!.keyId, bin(toBinary(StoredApiKeySchema, create(StoredApiKeySchema, key)))));
  }

  async getApiKey(keyId: string): Promise<StoredApiKey | undefined> {
    const raw = this.apiKeys.get(keyId);
    return raw && fromBinary(StoredApiKeySchema, raw);
  }

  async listApiKeys(tenant: string): Promise<StoredApiKey[]> {
    return [...this.apiKeys.getRange()].map(({ value }) => fromBinary(StoredApiKeySchema, value)).filter((k) => k.info!.tenant === tenant);
  }

  async deleteApiKey(keyId: string): Promise<boolean> {
    return this.tx(() => {
      if (this.apiKeys.get(keyId) === undefined) return false;
      void this.apiKeys.remove(keyId);
      return true;
    });
  }
}
