import { create } from '@bufbuild/protobuf';
import { ClassifiedEventSchema, Source, type ClassifiedEvent, type Delivery, type Verdict } from '@winnow/proto';
import { applyMoves, emptyMessage, isCountable, movesFor, SOURCE_SLOTS, type CounterDelta } from '@winnow/engagement';
import { hourStart, type RecordDeliveriesResult, type RecordEventsResult, type Revision } from './event-store.port';
import { EARLIEST_MS, LATEST_MS, eventProblem, tenantProblem } from './event-matching';

/** A message's stored state: its delivery and its per-source engagement. */
export interface MessageState {
  tenant: string;
  message: string;
  campaign: string;
  deliveredAtMs: number;
  links: number;
  opens: number[];
  clicks: number[];
}

/** A bad batch: nothing of it is stored. */
export class StoreInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreInputError';
  }
}

export const messageKey = (tenant: string, message: string) => `${tenant}\u0000${message}`;
export const campaignKey = (tenant: string, campaign: string) => `${tenant}\u0000${campaign}`;
export const bucketKey = (tenant: string, campaign: string, hour: number) => `${tenant}\u0000${campaign}\u0000${hour}`;

export interface BucketDelta {
  tenant: string;
  campaign: string;
  hourStartMs: number;
  opens: number[];
  clicks: number[];
}

export interface CampaignDelta {
  tenant: string;
  campaign: string;
  delivered: number;
  counters: CounterDelta;
}

/** What one batch changes; an adapter writes all of it in one transaction. */
export interface Plan {
  /** New events and events whose verdict was revised (`replaced` true). */
  events: Array<{ value: ClassifiedEvent; replaced: boolean }>;
  messages: Map<string, MessageState>;
  campaigns: Map<string, CampaignDelta>;
  buckets: Map<string, BucketDelta>;
}

const zeros = () => new Array<number>(SOURCE_SLOTS).fill(0);

function emptyPlan(): Plan {
  return { events: [], messages: new Map(), campaigns: new Map(), buckets: new Map() };
}

function campaignDelta(plan: Plan, tenant: string, campaign: string): CampaignDelta {
  const k = campaignKey(tenant, campaign);
  let d = plan.campaigns.get(k);
  if (!d) {
    d = { tenant, campaign, delivered: 0, counters: { opens: zeros(), clicks: zeros(), engaged: {} } };
    plan.campaigns.set(k, d);
  }
  return d;
}

function addArrays(target: { opens: number[]; clicks: number[] }, d: { opens: number[]; clicks: number[] }): void {
  for (let i = 0; i < SOURCE_SLOTS; i++) {
    target.opens[i]! += d.opens[i] ?? 0;
    target.clicks[i]! += d.clicks[i] ?? 0;
  }
}

function addInto(target: CounterDelta, d: CounterDelta): void {
  addArrays(target, d);
  for (const [k, v] of Object.entries(d.engaged)) {
    const n = (target.engaged[k] ?? 0) + v;
    if (n === 0) delete target.engaged[k];
    else target.engaged[k] = n;
  }
}

function newMessage(tenant: string, message: string, campaign: string): MessageState {
  return { tenant, message, campaign, deliveredAtMs: 0, links: 0, ...emptyMessage() };
}

/** Why a revision cannot be taken, or undefined. */
export function revisionProblem(r: Revision): string | undefined {
  const id = r.verdict?.eventId;
  if (!id) return 'a revision needs its verdict with the event id';
  const tenant = tenantProblem(r.tenant);
  if (tenant) return `revision of ${id}: ${tenant}`;
  if (!r.message) return `revision of ${id}: message is required`;
  if (r.verdict.source < Source.HUMAN || r.verdict.source > Source.BOT) return `revision of ${id}: verdict source is required`;
  if (!(r.verdict.revision > 0)) return `revision of ${id}: revision must be positive`;
  return undefined;
}

/**
 * Plans a batch of classified events, then `revisions` of events stored before, against what is
 * stored. `stored` and `messages` hold the current state of every event id and message the batch
 * and the revisions name (missing = not stored); the maps are updated as the plan goes, so repeats
 * inside one batch, and revisions of the batch's own events, are handled too. Pure and in memory:
 * both adapters share the counting rules through it.
 */
export function planEvents(
  batch: readonly ClassifiedEvent[],
  stored: Map<string, ClassifiedEvent>,
  messages: Map<string, MessageState>,
  revisions: readonly Revision[] = [],
): { plan: Plan; result: RecordEventsResult } {
  for (const e of batch) {
    const problem = eventProblem(e);
    if (problem) throw new StoreInputError(problem);
  }
  for (const r of revisions) {
    const problem = revisionProblem(r);
    if (problem) throw new StoreInputError(problem);
  }
  const plan = emptyPlan();
  const result: RecordEventsResult = { stored: 0, duplicates: 0, revised: 0, gone: 0 };
  const take = (tenant: string, message: string, eventId: string, incoming: ClassifiedEvent | undefined, verdict: Verdict): void => {
    const idKey = messageKey(tenant, eventId);
    const prev = stored.get(idKey);
    if (!prev && !incoming) {
      result.gone++;
      return;
    }
    if (prev && prev.verdict!.revision >= verdict.revision) {
      result.duplicates++;
      return;
    }
    // A revision moves the counters of the message its event was stored under; one naming another
    // message would move the wrong message's and campaign's counters, for good.
    if (prev && prev.event!.message !== message) {
      throw new StoreInputError(`event ${eventId} is stored under message ${prev.event!.message}, not ${message}`);
    }
    // The stored event stays as first seen; only its verdict is replaced by a revision.
    const value = prev ? create(ClassifiedEventSchema, { event: prev.event, evidence: prev.evidence, verdict }) : incoming!;
    const base = value.event!;
    const mk = messageKey(tenant, message);
    const msg = plan.messages.get(mk) ?? messages.get(mk) ?? newMessage(tenant, message, base.campaign);
    // Counted under the message's campaign but listed, linked and erased under its own, an event
    // naming another campaign would split the figures (a message id reused across campaigns).
    if (!prev && msg.campaign && msg.campaign !== base.campaign) {
      throw new StoreInputError(`event ${eventId} names campaign ${base.campaign}, but message ${message} belongs to campaign ${msg.campaign}`);
    }
    // Events ingested through the classifier keep their headers only as evidence.
    const moves = movesFor(base.kind, isCountable(base.method, value.evidence?.headers ?? base.headers), prev?.verdict!.source, verdict.source);
    if (moves.length > 0) {
      const { message: next, delta } = applyMoves(msg, moves);
      msg.opens = next.opens;
      msg.clicks = next.clicks;
      const campaign = msg.campaign || base.campaign;
      addInto(campaignDelta(plan, tenant, campaign).counters, delta);
      const hour = hourStart(Number(base.atUnixMs));
      const bk = bucketKey(tenant, campaign, hour);
      let b = plan.buckets.get(bk);
      if (!b) {
        b = { tenant, campaign, hourStartMs: hour, opens: zeros(), clicks: zeros() };
        plan.buckets.set(bk, b);
      }
      addArrays(b, delta);
    }
    plan.messages.set(mk, msg);
    stored.set(idKey, value);
    plan.events.push({ value, replaced: prev !== undefined });
    if (prev) result.revised++;
    else result.stored++;
  };
  for (const incoming of batch) take(incoming.event!.tenant, incoming.event!.message, incoming.event!.id, incoming, incoming.verdict!);
  for (const r of revisions) take(r.tenant, r.message, r.verdict.eventId, undefined, r.verdict);
  return { plan, result };
}

/** Plans deliveries: a message is delivered once; later copies are duplicates. */
export function planDeliveries(
  batch: readonly Delivery[],
  messages: Map<string, MessageState>,
): { plan: Plan; result: RecordDeliveriesResult } {
  for (const d of batch) {
    if (!d.tenant || !d.campaign || !d.message) throw new StoreInputError('delivery needs tenant, campaign and message');
    const tenant = tenantProblem(d.tenant);
    if (tenant) throw new StoreInputError(`delivery of ${d.message}: ${tenant}`);
    const at = Number(d.deliveredAtUnixMs);
    if (!(at >= EARLIEST_MS && at < LATEST_MS)) throw new StoreInputError(`delivery of ${d.message}: delivered_at_unix_ms must be a time from 2000-01-01 to 2099-12-31 (got ${d.deliveredAtUnixMs})`);
    if (d.links < 0) throw new StoreInputError(`delivery of ${d.message}: links cannot be negative`);
  }
  const plan = emptyPlan();
  const result: RecordDeliveriesResult = { recorded: 0, duplicates: 0 };
  for (const d of batch) {
    const mk = messageKey(d.tenant, d.message);
    const msg = plan.messages.get(mk) ?? messages.get(mk) ?? newMessage(d.tenant, d.message, d.campaign);
    // Checked before the duplicate test: the same message delivered again under another campaign is
    // a message id reused across campaigns, not a repeat, and must not be answered as recorded.
    if (msg.campaign && msg.campaign !== d.campaign) {
      throw new StoreInputError(`message ${d.message} belongs to campaign ${msg.campaign}, not ${d.campaign}`);
    }
    if (msg.deliveredAtMs > 0) {
      result.duplicates++;
      continue;
    }
    msg.campaign = d.campaign;
    msg.deliveredAtMs = Number(d.deliveredAtUnixMs);
    msg.links = d.links;
    plan.messages.set(mk, msg);
    campaignDelta(plan, d.tenant, d.campaign).delivered++;
    result.recorded++;
  }
  return { plan, result };
}

