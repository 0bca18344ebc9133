import { EventKind, Source } from '@winnow/proto';
import { SOURCE_SLOTS, sourceBit } from './sources';
import type { CountingMask } from './policy';

/**
 * What the store keeps per message: how many counted events each source made, for opens and clicks.
 * Arrays are indexed by Source value.
 */
export interface MessageEngagement {
  opens: number[];
  clicks: number[];
}

/**
 * What the store keeps per campaign. `engaged` maps a message's engagement key (the mask of sources
 * that opened, plus the mask of sources that clicked shifted left by 8) to the number of messages
 * with that key. That histogram makes unique counts exact under any policy, decided at query time.
 */
export interface CampaignCounters {
  delivered: number;
  opens: number[];
  clicks: number[];
  engaged: Record<string, number>;
}

export function emptyMessage(): MessageEngagement {
  return { opens: new Array<number>(SOURCE_SLOTS).fill(0), clicks: new Array<number>(SOURCE_SLOTS).fill(0) };
}

export function emptyCampaign(): CampaignCounters {
  return { delivered: 0, opens: new Array<number>(SOURCE_SLOTS).fill(0), clicks: new Array<number>(SOURCE_SLOTS).fill(0), engaged: {} };
}

export function engagementKey(m: MessageEngagement): number {
  let open = 0;
  let click = 0;
  for (let s = Source.HUMAN; s <= Source.BOT; s++) {
    if ((m.opens[s] ?? 0) > 0) open |= sourceBit(s);
    if ((m.clicks[s] ?? 0) > 0) click |= sourceBit(s);
  }
  return open | (click << 8);
}

const PREFETCH = /prefetch|prerender|preview/i;

/**
 * Only a GET that is not a declared prefetch is an open or a click. HEAD, OPTIONS and prefetches
 * (`Sec-Purpose`, `Purpose`, `X-Purpose`, `X-Moz`) are kept on record but never counted.
 */
export function isCountable(method: string, headers: Readonly<Record<string, string>> = {}): boolean {
  if (method !== 'GET') return false;
  for (const h of ['sec-purpose', 'purpose', 'x-purpose', 'x-moz']) {
    const v = headers[h];
    if (v !== undefined && PREFETCH.test(v)) return false;
  }
  return true;
}

/** A change to one campaign's counters, to be added to what is stored. */
export interface CounterDelta {
  opens: number[];
  clicks: number[];
  engaged: Record<string, number>;
}

/** One counted event entering (`+1`) or leaving (`-1`) a source's tally. */
export interface Move {
  kind: EventKind;
  source: Source;
  sign: 1 | -1;
}

/**
 * Applies moves to a message's engagement and returns the message's new state and the delta for
 * its campaign. Pure: the caller persists both atomically.
 */
export function applyMoves(message: MessageEngagement, moves: readonly Move[]): { message: MessageEngagement; delta: CounterDelta } {
  const next: MessageEngagement = { opens: [...message.opens], clicks: [...message.clicks] };
  const delta: CounterDelta = {
    opens: new Array<number>(SOURCE_SLOTS).fill(0),
    clicks: new Array<number>(SOURCE_SLOTS).fill(0),
    engaged: {},
  };
  const before = engagementKey(message);
  for (const m of moves) {
    const arr = m.kind === EventKind.OPEN ? next.opens : next.clicks;
    const d = m.kind === EventKind.OPEN ? delta.opens : delta.clicks;
    const now = (arr[m.source] ?? 0) + m.sign;
    if (now < 0) throw new RangeError(`counter for source ${m.source} would go negative`);
    arr[m.source] = now;
    d[m.source] = (d[m.source] ?? 0) + m.sign;
  }
  const after = engagementKey(next);
  if (before !== after) {
    if (before !== 0) delta.engaged[before] = -1;
    if (after !== 0) delta.engaged[after] = (delta.engaged[after] ?? 0) + 1;
  }
  return { message: next, delta };
}

/**
 * The moves for an event's verdict changing from `previous` (undefined if new) to `next`;
 * `countable` is isCountable() of the request.
 */
export function movesFor(kind: EventKind, countable: boolean, previous: Source | undefined, next: Source): Move[] {
  if (!countable || (kind !== EventKind.OPEN && kind !== EventKind.CLICK)) return [];
  if (previous === next) return [];
  const moves: Move[] = [];
  if (previous !== undefined && previous !== Source.UNSPECIFIED) moves.push({ kind, source: previous, sign: -1 });
  moves.push({ kind, source: next, sign: 1 });
  return moves;
}

export function addDelta(c: CampaignCounters, d: CounterDelta): CampaignCounters {
  const out: CampaignCounters = {
    delivered: c.delivered,
    opens: c.opens.map((v, i) => v + (d.opens[i] ?? 0)),
    clicks: c.clicks.map((v, i) => v + (d.clicks[i] ?? 0)),
    engaged: { ...c.engaged },
  };
  for (const [k, v] of Object.entries(d.engaged)) {
    const n = (out.engaged[k] ?? 0) + v;
    if (n === 0) delete out.engaged[k];
    else out.engaged[k] = n;
  }
  return out;
}

export interface FigureValues {
  opens: number;
  uniqueOpens: number;
  clicks: number;
  uniqueClicks: number;
  openRate: number;
  clickThroughRate: number;
  clickToOpenRate: number;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/**
 * Figures under a counting mask. A message counts as opened when a counted source opened it or
 * clicked in it (a click implies the message was read, whether or not its images loaded).
 * Cost: O(sources + distinct engagement keys), independent of the number of events.
 */
export function figures(c: CampaignCounters, mask: CountingMask): FigureValues {
  let opens = 0;
  let clicks = 0;
  for (let s = Source.HUMAN; s <= Source.BOT; s++) {
    const bit = sourceBit(s);
    if (mask.opens & bit) opens += c.opens[s] ?? 0;
    if (mask.clicks & bit) clicks += c.clicks[s] ?? 0;
  }
  let uniqueOpens = 0;
  let uniqueClicks = 0;
  for (const [key, count] of Object.entries(c.engaged)) {
    const k = Number(key);
    const clicked = ((k >> 8) & mask.clicks) !== 0;
    const opened = (k & 0xff & mask.opens) !== 0;
    if (clicked) uniqueClicks += count;
    if (opened || clicked) uniqueOpens += count;
  }
  return {
    opens,
    uniqueOpens,
    clicks,
    uniqueClicks,
    openRate: ratio(uniqueOpens, c.delivered),
    clickThroughRate: ratio(uniqueClicks, c.delivered),
    clickToOpenRate: ratio(uniqueClicks, uniqueOpens),
  };
}
