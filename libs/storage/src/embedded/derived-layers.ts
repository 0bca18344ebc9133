import type { CampaignCounters } from '@winnow/engagement';
import { bucketKey, campaignKey, messageKey, type MessageState } from '../ledger';

export type Key = (string | number)[];

export interface HourValue {
  opens: number[];
  clicks: number[];
}

/**
 * What one stored batch changed in the derived databases, as the values they now hold (not as
 * deltas), so that applying an entry twice is the same as applying it once: message states (`m`),
 * new timeline entries (`t`, keys `[tenant, message, atMs, eventId]`), campaign counters (`c`) and
 * hour buckets (`h`). The embedded store writes one per batch to its journal, in the batch's own
 * transaction.
 */
export interface JournalEntry {
  m: Array<[Key, MessageState]>;
  t: Key[];
  c: Array<[Key, CampaignCounters]>;
  h: Array<[Key, HourValue]>;
}

/**
 * One staged value of a key and the journal entry that wrote it. A value whose entry may not be
 * committed yet keeps the one it replaced (`prev`), so a read outside the write transaction can
 * find the newest committed value (see `visible`).
 */
export interface Staged<V> {
  key: Key;
  value: V;
  seq: number;
  prev?: Staged<V>;
}

/** The newest of `s` and the values it replaced written by an entry up to `upTo`, or undefined. */
export function visible<V>(s: Staged<V> | undefined, upTo: number): Staged<V> | undefined {
  while (s && s.seq > upTo) s = s.prev;
  return s;
}

/**
 * The derived records written by batches whose journal entries are not yet applied to the derived
 * databases, newest value per key, each with the journal entry that wrote it. The embedded store
 * reads them before the databases: inside a write transaction all of them, outside one only those
 * of entries known to be committed.
 */
export class DerivedLayer {
  readonly states = new Map<string, Staged<MessageState>>();
  /** New timeline entries per message (messageKey), in the order they were staged, with their entry's number. */
  readonly timelines = new Map<string, Array<{ key: Key; seq: number }>>();
  readonly campaigns = new Map<string, Staged<CampaignCounters>>();
  readonly hours = new Map<string, Staged<HourValue>>();
  /** Journal sequence number of the newest entry staged here (0: none). */
  seq = 0;
  /** Records staged (a measure of the memory it holds). */
  size = 0;

  /**
   * Stages entry `seq`. `committedUpTo`: entries up to it are known to be committed, so a value they
   * wrote need not be kept behind a newer one.
   */
  add(entry: JournalEntry, seq: number, committedUpTo: number): void {
    for (const [key, state] of entry.m) stage(this.states, messageKey(String(key[0]), String(key[1])), key, state, seq, committedUpTo);
    for (const key of entry.t) {
      const mk = messageKey(String(key[0]), String(key[1]));
      const list = this.timelines.get(mk);
      if (list) list.push({ key, seq });
      else this.timelines.set(mk, [{ key, seq }]);
    }
    for (const [key, counters] of entry.c) stage(this.campaigns, campaignKey(String(key[0]), String(key[1])), key, counters, seq, committedUpTo);
    for (const [key, value] of entry.h) stage(this.hours, bucketKey(String(key[0]), String(key[1]), Number(key[2])), key, value, seq, committedUpTo);
    this.size += entry.m.length + entry.t.length + entry.c.length + entry.h.length;
    this.seq = seq;
  }
}

function stage<V>(map: Map<string, Staged<V>>, k: string, key: Key, value: V, seq: number, committedUpTo: number): void {
  const prev = map.get(k);
  // The newest committed value is the last one a reader outside the transaction could need.
  let committed = prev;
  while (committed && committed.seq > committedUpTo) committed = committed.prev;
  if (committed) committed.prev = undefined;
  // A value written by a committed entry replaces the others for every reader.
  map.set(k, { key, value, seq, prev: seq <= committedUpTo ? undefined : prev });
}
