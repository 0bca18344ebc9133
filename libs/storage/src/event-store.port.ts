import { hash } from 'node:crypto';
import type {
  DeadLetter,
  Reclassification,
  StoredApiKey,
  ClassifiedEvent,
  Delivery,
  EventFilter,
  SuppressionPolicy,
  TrackingDomain,
  Verdict,
} from '@winnow/proto';
import type { CampaignCounters } from '@winnow/engagement';

export interface RecordEventsResult {
  /** Events seen for the first time. */
  stored: number;
  /** Events already stored with the same or a newer verdict revision: nothing changed. */
  duplicates: number;
  /** Events stored before whose verdict this call replaced with a newer revision. */
  revised: number;
  /**
   * Revisions (the `revisions` argument) of events that are no longer stored (past retention, or
   * erased): nothing is written for them and the counters stay as they were.
   */
  gone: number;
}

/**
 * A later verdict for an event stored before (`verdict.eventId`). The stored event and its evidence
 * stay as first seen; only the verdict is replaced, so the writer need not keep the event itself.
 */
export interface Revision {
  tenant: string;
  message: string;
  verdict: Verdict;
}

export type EraseScope = { tenant: string; message: string } | { tenant: string; campaign: string } | { tenant: string; wholeTenant: true };

export interface EraseResult {
  events: number;
  messages: number;
  deadLetters: number;
}

/**
 * A tombstone's key: SHA-256 of what was erased, so the store keeps no erased name in clear.
 * (`hash`, Node's one-shot digest, is about a third of createHash's cost: stats computes one for
 * every new message it ingests.)
 */
export function tombstoneKey(kind: 'message' | 'campaign' | 'tenant', tenant: string, name = ''): string {
  return hash('sha256', `${kind}\u0000${tenant}\u0000${name}`, 'hex');
}

export interface RecordDeliveriesResult {
  recorded: number;
  duplicates: number;
}

export interface MessageRecord {
  tenant: string;
  message: string;
  campaign: string;
  /** 0 when the delivery has not been recorded (events can arrive first). */
  deliveredAtMs: number;
  links: number;
}

export interface EventPage {
  events: ClassifiedEvent[];
  /** Empty when there are no more. */
  nextPageToken: string;
}

/** One hour of a campaign: counted events by source (arrays indexed by Source value). */
export interface HourBucket {
  hourStartMs: number;
  opens: number[];
  clicks: number[];
}

/**
 * The storage port. Both adapters (embedded LMDB and MongoDB) implement it and pass the same
 * conformance suite. Every method is scoped by tenant; none crosses tenants.
 */
export interface EventStore {
  /** Prepares the store (indexes, schema); idempotent. */
  init(): Promise<void>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;

  recordDeliveries(deliveries: readonly Delivery[]): Promise<RecordDeliveriesResult>;
  /**
   * Idempotent per (tenant, event id); a higher verdict revision replaces a lower one. With
   * `fences` (tenant -> the history sequence the caller's verdicts were made at), the batch is
   * written only if every tenant's sequence is still that one, and moves each on by one, in the
   * same transaction; otherwise it throws StaleHistoryError and writes nothing. `revisions` are
   * applied after `events`, in the same transaction (a revision may name an event of `events`).
   */
  recordEvents(events: readonly ClassifiedEvent[], fences?: ReadonlyMap<string, number>, revisions?: readonly Revision[]): Promise<RecordEventsResult>;
  /** A tenant's history sequence: how many fenced batches were written for it (0 at first). */
  historySequence(tenant: string): Promise<number>;

  campaignCounters(tenant: string, campaign: string): Promise<CampaignCounters>;
  message(tenant: string, message: string): Promise<MessageRecord | undefined>;
  /** All events of one message, oldest first. */
  messageEvents(tenant: string, message: string): Promise<ClassifiedEvent[]>;
  /**
   * A tenant's events with atMs >= fromMs, oldest first (time, then id), a page at a time: what
   * the statistics service rebuilds its contextual history from.
   */
  scanEvents(tenant: string, fromMs: number, pageSize: number): AsyncIterable<ClassifiedEvent[]>;
  /** Newest first. `filter.tenant` is required. */
  listEvents(filter: EventFilter, pageSize: number, pageToken: string): Promise<EventPage>;
  /** Hour buckets of a campaign with fromMs <= hourStartMs < toMs (toMs 0 = open), oldest first. */
  hourBuckets(tenant: string, campaign: string, fromMs: number, toMs: number): Promise<HourBucket[]>;

  /** Keeps events that failed permanently, with why (ids are the caller's, time-ordered). */
  putDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /** Oldest first; tenant '' lists every tenant's. */
  listDeadLetters(tenant: string, pageSize: number, pageToken: string): Promise<{ deadLetters: DeadLetter[]; nextPageToken: string }>;
  /** Returns how many were there. */
  deleteDeadLetters(tenant: string, ids: readonly string[]): Promise<number>;

  /**
   * Erases the per-recipient records (raw events, per-message engagement, dead letters) of one
   * message, every message of a campaign, or a whole tenant (then its counters, hour buckets,
   * policy, checkpoints too), and leaves a tombstone (a hash of the name, not the name).
   * Campaign counters of a message or campaign erased stay, as anonymous aggregates.
   */
  erase(scope: EraseScope): Promise<EraseResult>;
  /** Which of these tombstone keys (tombstoneKey) exist. */
  tombstonesAmong(keys: readonly string[]): Promise<Set<string>>;

  /** Reclassification checkpoints, one per tenant. */
  getReclassification(tenant: string): Promise<Reclassification | undefined>;
  putReclassification(job: Reclassification): Promise<void>;
  listReclassifications(): Promise<Reclassification[]>;
  /** How many events a tenant has stored (progress). */
  countEvents(tenant: string): Promise<number>;

  getPolicy(tenant: string): Promise<SuppressionPolicy | undefined>;
  putPolicy(policy: SuppressionPolicy): Promise<void>;

  listDomains(): Promise<TrackingDomain[]>;
  putDomain(domain: TrackingDomain): Promise<void>;
  /** False when the host is not registered to that tenant. */
  deleteDomain(hostname: string, tenant: string): Promise<boolean>;

  putApiKey(key: StoredApiKey): Promise<void>;
  getApiKey(keyId: string): Promise<StoredApiKey | undefined>;
  listApiKeys(tenant: string): Promise<StoredApiKey[]>;
  deleteApiKey(keyId: string): Promise<boolean>;
}

export const HOUR_MS = 3_600_000;

export function hourStart(ms: number): number {
  return ms - (ms % HOUR_MS);
}

/** Page tokens are opaque to callers: base64url JSON of the last key returned. */
export function encodePageToken(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodePageToken<T>(token: string, valid: (v: unknown) => v is T): T | undefined {
  if (token === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidPageToken();
  }
  if (!valid(v)) throw new InvalidPageToken();
  return v;
}

export class InvalidPageToken extends Error {
  constructor() {
    super('page token is not one this service issued');
    this.name = 'InvalidPageToken';
  }
}

/**
 * Another writer stored events of the tenant since the caller's history was read: the verdicts were
 * made without them. Nothing was written; rebuild the history and classify again.
 */
export class StaleHistoryError extends Error {
  constructor(readonly tenant: string, expected: number, found: number) {
    super(`the history of tenant ${tenant} moved on (sequence ${found}, expected ${expected}): another writer stored its events`);
    this.name = 'StaleHistoryError';
  }
}
