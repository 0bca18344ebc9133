import { BURST_WINDOW_MS, FANOUT_WINDOW_MS, PRECURSOR_WINDOW_MS, TAINT_WINDOW_MS, decide, featuresOf, type EventContext, type EventFeatures } from './decide';
import type { TraceEvent } from './trace-event';
import type { Decision } from './verdict';

export interface Classified {
  event: TraceEvent;
  decision: Decision;
  /** 0 for a first verdict; higher when later evidence changed it. */
  revision: number;
}

interface Entry extends Classified {
  seq: number;
  features: EventFeatures;
  /** The context the current decision was made with: unchanged context, unchanged decision. */
  ctx?: EventContext;
}

function sameContext(a: EventContext, b: EventContext): boolean {
  return (
    a.burstRequests === b.burstRequests &&
    a.burstLinks === b.burstLinks &&
    a.burstSpanMs === b.burstSpanMs &&
    a.sameIpHitTrap === b.sameIpHitTrap &&
    a.followedByOtherIp === b.followedByOtherIp &&
    a.officeHelperBefore === b.officeHelperBefore &&
    a.fanoutMessages === b.fanoutMessages
  );
}

export interface ClassifierOptions {
  /** Messages whose history is kept for later evidence; the oldest are forgotten first. */
  maxMessages?: number;
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

const key = (a: string, b: string, c?: string) => (c === undefined ? `${a}\u0000${b}` : `${a}\u0000${b}\u0000${c}`);

/**
 * Classifies events with the history of their message and campaign. Later events can change the
 * verdict of earlier ones (a burst or a trap hit seen later withdraws a click's credit): those come
 * back as revisions. Deterministic: the same events give the same verdicts in any batch split,
 * once all have been seen.
 */
export class Classifier {
  private readonly messages = new Map<string, Entry[]>();
  private readonly fanout = new Map<string, Array<{ atMs: number; message: string }>>();
  /** Every event held, by tenant and id: a retried batch gets the verdicts already given. */
  private readonly byId = new Map<string, Entry>();
  private readonly maxMessages: number;
  private seq = 0;

  constructor(opts: ClassifierOptions = {}) {
    this.maxMessages = opts.maxMessages ?? 200_000;
  }

  classify(batch: readonly TraceEvent[]): { verdicts: Classified[]; revised: Classified[] } {
    const touched = new Set<string>();
    const fresh = new Set<Entry>();
    const repeats = new Map<TraceEvent, Entry>();
    for (const event of batch) {
      const idKey = key(event.tenant, event.id);
      const known = this.byId.get(idKey);
      if (known) {
        repeats.set(event, known);
        continue;
      }
      const mk = key(event.tenant, event.message);
      let list = this.messages.get(mk);
      if (!list) {
        list = [];
        // Messages are forgotten oldest first (by first event), which is also nearly least recently active.
        this.messages.set(mk, list);
      }
      const entry: Entry = { event, decision: undefined as unknown as Decision, revision: 0, seq: this.seq++, features: featuresOf(event) };
      list.push(entry);
      fresh.add(entry);
      this.byId.set(idKey, entry);
      touched.add(mk);
      // Private Relay egress carries many people: not evidence of fan-out.
      if (event.kind === 'click' && !entry.features.net.appleRelay && event.ip !== '') {
        const fk = key(event.tenant, event.campaign, event.ip);
        let recent = this.fanout.get(fk);
        if (!recent) this.fanout.set(fk, (recent = []));
        recent.push({ atMs: event.atMs, message: event.message });
        // Other messages this address touched nearby may now look like fan-out.
        for (const r of recent) if (Math.abs(r.atMs - event.atMs) <= FANOUT_WINDOW_MS) touched.add(key(event.tenant, r.message));
        if (recent.length > 64) recent.splice(0, recent.length - 64);
      }
    }
    const verdicts: Classified[] = [];
    const revised: Classified[] = [];
    for (const mk of touched) {
      const list = this.messages.get(mk);
      if (!list) continue;
      list.sort((a, b) => a.event.atMs - b.event.atMs || a.seq - b.seq);
      for (const entry of list) {
        const ctx = this.context(entry.event, list);
        if (entry.ctx && sameContext(entry.ctx, ctx)) continue;
        entry.ctx = ctx;
        const decision = decide(entry.event, ctx, entry.features);
        if (fresh.has(entry)) {
          entry.decision = decision;
        } else if (decision.actor !== entry.decision.actor || decision.source !== entry.decision.source) {
          entry.decision = decision;
          entry.revision++;
          revised.push({ event: entry.event, decision, revision: entry.revision });
        }
      }
    }
    for (const e of fresh) verdicts.push({ event: e.event, decision: e.decision, revision: 0 });
    for (const [event, known] of repeats) verdicts.push({ event, decision: known.decision, revision: known.revision });
    // Verdicts come back in the batch's order.
    const order = new Map(batch.map((e, i) => [e, i]));
    verdicts.sort((a, b) => order.get(a.event)! - order.get(b.event)!);
    this.evict();
    return { verdicts, revised };
  }

  private context(e: TraceEvent, list: readonly Entry[]): EventContext {
    let burstRequests = 0;
    // Distinct links in the burst: a bit mask for the usual small indexes, a set beyond 30.
    let linkMask = 0;
    let bigLinks: Set<number> | undefined;
    let lo = Infinity;
    let hi = -Infinity;
    let sameIpHitTrap = false;
    let followedByOtherIp = false;
    let officeHelperBefore = false;
    for (const { event: o, features } of list) {
      const dt = o.atMs - e.atMs;
      if (o.ip === e.ip) {
        if (Math.abs(dt) <= BURST_WINDOW_MS) {
          burstRequests++;
          if (o.kind === 'click') {
            if (o.link < 31) linkMask |= 1 << o.link;
            else (bigLinks ??= new Set()).add(o.link);
          }
          lo = Math.min(lo, o.atMs);
          hi = Math.max(hi, o.atMs);
        }
        if (o.kind === 'click' && o.linkRole === 'honeypot' && Math.abs(dt) <= TAINT_WINDOW_MS) sameIpHitTrap = true;
        if (o !== e && dt <= 0 && dt >= -10_000 && features.ua.kind === 'office_helper') officeHelperBefore = true;
      } else if (e.kind === 'click' && o.kind === 'click' && o.link === e.link && dt > 0 && dt <= PRECURSOR_WINDOW_MS) {
        followedByOtherIp = true;
      }
    }
    let fanoutMessages = 0;
    if (e.kind === 'click') {
      const recent = this.fanout.get(key(e.tenant, e.campaign, e.ip));
      if (recent && recent.length > 1) {
        const seen: string[] = [];
        for (const r of recent) if (Math.abs(r.atMs - e.atMs) <= FANOUT_WINDOW_MS && !seen.includes(r.message)) seen.push(r.message);
        fanoutMessages = seen.length;
      } else if (recent) fanoutMessages = 1;
    }
    return {
      burstRequests,
      burstLinks: popcount(linkMask) + (bigLinks?.size ?? 0),
      burstSpanMs: hi >= lo ? hi - lo : 0,
      sameIpHitTrap,
      followedByOtherIp,
      officeHelperBefore,
      fanoutMessages,
    };
  }

  private evict(): void {
    while (this.messages.size > this.maxMessages) {
      const oldest = this.messages.keys().next().value as string;
      for (const e of this.messages.get(oldest) ?? []) this.byId.delete(key(e.event.tenant, e.event.id));
      this.messages.delete(oldest);
    }
    if (this.fanout.size > this.maxMessages) this.fanout.clear();
  }
}
