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
 * The derived records written by batches whose journal entries are not yet applied to the derived
 * databases, newest value per key. The embedded store reads them before the databases.
 */
export class DerivedLayer {
  readonly states = new Map<string, [Key, MessageState]>();
  /** New timeline entries per message (messageKey), in the order they were staged. */
  readonly timelines = new Map<string, Key[]>();
  readonly campaigns = new Map<string, [Key, CampaignCounters]>();
  readonly hours = new Map<string, [Key, HourValue]>();
  /** Journal sequence number of the newest entry staged here (0: none). */
  seq = 0;
  /** Records staged (a measure of the memory it holds). */
  size = 0;

  add(entry: JournalEntry, seq: number): void {
    for (const [key, state] of entry.m) this.states.set(messageKey(String(key[0]), String(key[1])), [key, state]);
    for (const key of entry.t) {
      const mk = messageKey(String(key[0]), String(key[1]));
      const list = this.timelines.get(mk);
      if (list) list.push(key);
      else this.timelines.set(mk, [key]);
    }
    for (const [key, counters] of entry.c) this.campaigns.set(campaignKey(String(key[0]), String(key[1])), [key, counters]);
    for (const [key, value] of entry.h) this.hours.set(bucketKey(String(key[0]), String(key[1]), Number(key[2])), [key, value]);
    this.size += entry.m.length + entry.t.length + entry.c.length + entry.h.length;
    this.seq = seq;
  }
}
