import { BURST_WINDOW_MS, FANOUT_RECIPIENTS, FANOUT_WINDOW_MS, MEMORY_WINDOW_MS, PRECURSOR_WINDOW_MS, TAINT_WINDOW_MS, decide, featuresOf, type EventContext, type EventFeatures } from './decide';
import { BUNDLED_CALIBRATION, calibrated, type Calibration } from './calibration';
import type { TraceEvent } from './trace-event';
import type { Decision } from './verdict';

export interface Classified {
  event: TraceEvent;
  decision: Decision;
  /** 0 for a first verdict; higher when later evidence changed it. */
  revision: number;
}

interface Entry extends Classified {
  features: EventFeatures;
  /** Whether the tenant's memory of automated (address, user-agent) pairs applies (not where an address carries many people). */
  memorable: boolean;
  /** Campaign and address of a click that counts toward fan-out (undefined otherwise). */
  fanoutKey?: string;
  /** The fan-out list and address memory it belongs to, held until the tables are cleared (their epoch moves on). */
  hits?: FanoutHit[];
  memory?: AddressMemory;
  epoch: number;
  /** The context the current decision was made with: unchanged context, unchanged decision. */
  ctx?: EventContext;
  /** The batch that brought the event, and its position there. */
  batch: number;
  index: number;
  /** The batch that last revised it, and its decision before that batch (a batch revises an event once). */
  revisedIn?: number;
  before?: Decision;
}

/** One message's events, oldest first (by time, then arrival). */
interface History {
  tenant: string;
  message: string;
  entries: Entry[];
  /** The last batch that touched it (so a batch lists it once). */
  mark: number;
  /** Forgotten (see evict): a later event of the same message starts a new history. */
  evicted: boolean;
  /** Scratch mark for counting distinct messages. */
  stamp: number;
}

/** A click of one address in one campaign, for fan-out; kept in time order. */
interface FanoutHit {
  atMs: number;
  history: History;
}

/** Index of the first hit at or after atMs (hits are in time order). */
function firstAtOrAfter(hits: readonly FanoutHit[], atMs: number): number {
  let lo = 0;
  let hi = hits.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hits[mid]!.atMs < atMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A two-level map (tenant, then a name) without building a joined key string per lookup. */
class ByTenant<V> {
  private readonly tenants = new Map<string, Map<string, V>>();
  size = 0;

  get(tenant: string, name: string): V | undefined {
    return this.tenants.get(tenant)?.get(name);
  }

  set(tenant: string, name: string, value: V): void {
    let inner = this.tenants.get(tenant);
    if (!inner) this.tenants.set(tenant, (inner = new Map()));
    if (!inner.has(name)) this.size++;
    inner.set(name, value);
  }

  delete(tenant: string, name: string): void {
    const inner = this.tenants.get(tenant);
    if (inner?.delete(name)) {
      this.size--;
      if (inner.size === 0) this.tenants.delete(tenant);
    }
  }

  clear(): void {
    this.tenants.clear();
    this.size = 0;
  }

  /** Calls fn on every value (Map.forEach: no entry array allocated per value, unlike an iterator). */
  forEach(fn: (value: V, tenant: string, name: string) => void): void {
    this.tenants.forEach((inner, tenant) => inner.forEach((value, name) => fn(value, tenant, name)));
  }
}

function sameContext(a: EventContext, b: EventContext): boolean {
  return (
    a.burstRequests === b.burstRequests &&
    a.burstLinks === b.burstLinks &&
    a.burstSpanMs === b.burstSpanMs &&
    a.sameIpHitTrap === b.sameIpHitTrap &&
    a.followedByOtherIp === b.followedByOtherIp &&
    a.officeHelperBefore === b.officeHelperBefore &&
    a.fanoutMessages === b.fanoutMessages &&
    a.provenBeforeMs === b.provenBeforeMs
  );
}

const NO_REASONS: string[] = Object.freeze([]) as unknown as string[];
/** A decision as the history keeps it once its verdict went out. */
const slim = (d: Decision): Decision => ({ actor: d.actor, source: d.source, confidence: d.confidence, reasons: NO_REASONS });

function findById(entries: readonly Entry[], id: string): Entry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.event.id === id) return entries[i];
  return undefined;
}

/** Inserts keeping the order (time, then arrival); events mostly arrive in time order, so this is O(1) then. */
function insertInOrder(entries: Entry[], entry: Entry): void {
  let i = entries.length;
  while (i > 0 && entries[i - 1]!.event.atMs > entry.event.atMs) i--;
  if (i === entries.length) entries.push(entry);
  else entries.splice(i, 0, entry);
}

export interface ClassifyOptions {
  features?: readonly EventFeatures[];
  revisions?: readonly number[];
}

export interface ClassifierOptions {
  /** Messages whose history is kept for later evidence; the oldest are forgotten first. */
  maxMessages?: number;
  /** How the rules' confidence maps to calibrated confidence; null leaves it as the rules give it (for fitting). */
  calibration?: Calibration | null;
}

/** Forgotten messages remembered as forgotten, per message held. */
const FORGOTTEN_PER_HELD = 10;
const forgottenKey = (tenant: string, message: string) => `${tenant}\u0000${message}`;

/** Campaign and address of a click, as one key under its tenant. */
const fanoutKey = (e: TraceEvent) => `${e.campaign}\u0000${e.ip}`;
const userAgent = (e: TraceEvent) => e.headers['user-agent'] ?? '';
const samePair = (a: TraceEvent, b: TraceEvent) => a.ip === b.ip && userAgent(a) === userAgent(b);

/** What a tenant remembers of one address: when (and with which user-agent) it was proven automated, and where it was seen. */
interface AddressMemory {
  /** Ascending by time. */
  proofs: Array<{ atMs: number; ua: string }>;
  /** Histories holding its events, to revisit when a new proof arrives (the latest kept). */
  histories: History[];
  /** The latest event time seen at the address. */
  lastAtMs: number;
}
/** Events that prove their address and user-agent automated: a trap hit, or one of a burst of links. */
const proves = (e: TraceEvent, ctx: EventContext) => e.kind === 'click' && (e.linkRole === 'honeypot' || ctx.sameIpHitTrap || ctx.burstLinks >= 3);
/** Clicks kept per campaign and address for fan-out (at least this many of the latest; up to twice as many). */
const FANOUT_HITS = 64;
/** Above any event time in ms (year 5138): the memory's trim orders by rank first, then by time. */
const RANK_SPAN = 1e14;
/** Proofs and histories kept per address (histories: at least this many of the latest, up to twice as many). */
const PROOFS_PER_ADDRESS = 32;
const HISTORIES_PER_ADDRESS = 64;

/**
 * Whether a click at atMs could change the fan-out count of one of h's clicks under the same key:
 * only a click within the window whose count has not yet reached the rule's threshold can move.
 */
function fanoutMayChange(h: History, key: string, atMs: number): boolean {
  for (const { event, fanoutKey, ctx } of h.entries) {
    if (fanoutKey !== key || Math.abs(event.atMs - atMs) > FANOUT_WINDOW_MS) continue;
    if (!ctx || ctx.fanoutMessages < FANOUT_RECIPIENTS) return true;
  }
  return false;
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}


/**
 * Classifies events with the history of their message and campaign. Later events can change the
 * verdict of earlier ones (a burst or a trap hit seen later withdraws a click's credit): those come
 * back as revisions. Deterministic: the same events give the same verdicts in any batch split,
 * once all have been seen.
 */
export class Classifier {
  private readonly messages = new ByTenant<History>();
  /**
   * Histories in the order they began, for eviction. (Taking the Map's first key instead costs a
   * scan over the holes earlier deletions left at its front: quadratic once eviction starts.)
   */
  private order: History[] = [];
  private orderHead = 0;
  /** Clicks by tenant, then campaign and address (joined: both come from the same event). */
  private readonly fanout = new ByTenant<FanoutHit[]>();
  /**
   * The tenant's memory of automation: per (address, user-agent), the times a trap hit or a burst
   * proved it automated (ascending), and the histories holding its events. Cross-campaign state; see
   * docs/classification.md for its window and bounds.
   */
  private readonly memory = new ByTenant<AddressMemory>();
  private proofCount = 0;
  /** The latest event time seen (any tenant): what the memory's window is measured against when it is trimmed. */
  private latestAtMs = 0;
  private readonly maxMessages: number;
  /**
   * Messages forgotten to keep within maxMessages, oldest first, up to FORGOTTEN_PER_HELD times
   * maxMessages of them (a key costs ~100 bytes against ~3 KB for a message's history): an owner that
   * can read a message's events back (stats, from the store) asks `forgot` and replays them before
   * the message's next event.
   */
  private readonly forgotten = new Map<string, true>();
  private batchNo = 0;
  private stamp = 0;
  /** Moves on whenever the fan-out or memory tables are cleared (entries then look theirs up again). */
  private epoch = 0;
  /** context() writes here; a copy is kept only when it differs from the entry's last one. */
  private readonly scratch: EventContext = { burstRequests: 0, burstLinks: 0, burstSpanMs: 0, sameIpHitTrap: false, followedByOtherIp: false, officeHelperBefore: false, fanoutMessages: 0, provenBeforeMs: -1 };

  private readonly calibration: Calibration | null;

  /** Whether the message's history was forgotten (evicted) and not started again since. */
  forgot(tenant: string, message: string): boolean {
    return this.forgotten.size > 0 && this.forgotten.has(forgottenKey(tenant, message));
  }

  constructor(opts: ClassifierOptions = {}) {
    this.maxMessages = opts.maxMessages ?? 200_000;
    this.calibration = opts.calibration === undefined ? BUNDLED_CALIBRATION : opts.calibration;
  }

  /**
   * Classifies a batch with the history seen so far. `features` gives each event's per-request
   * lookups when they were made elsewhere (from stored evidence); `revisions` the revision each
   * event's verdict already has in the store (a history rebuilt from the store carries on counting
   * from there).
   */
  classify(batch: readonly TraceEvent[], opts: ClassifyOptions = {}): { verdicts: Classified[]; revised: Classified[] } {
    const no = ++this.batchNo;
    const touched: History[] = [];
    const touch = (h: History | undefined) => {
      if (h && h.mark !== no) {
        h.mark = no;
        touched.push(h);
      }
    };
    const fresh: Entry[] = [];
    const repeats: Array<[number, Entry]> = [];
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i]!;
      let history = this.messages.get(event.tenant, event.message);
      // An event held already (a retried batch) gets the verdict already given. Ids are looked up
      // within their message: one large table fewer to probe per event.
      const known = history && findById(history.entries, event.id);
      if (known) {
        repeats.push([i, known]);
        continue;
      }
      if (!history) {
        // Messages are forgotten oldest first (by first event), which is also nearly least recently active.
        if (this.forgotten.size > 0) this.forgotten.delete(forgottenKey(event.tenant, event.message));
        history = { tenant: event.tenant, message: event.message, entries: [], mark: 0, evicted: false, stamp: 0 };
        this.messages.set(event.tenant, event.message, history);
        this.order.push(history);
      }
      const features = opts.features?.[i] ?? featuresOf(event);
      // Memory can only change a weighed verdict: user-agents that settle the verdict alone need none.
      const k = features.ua.kind;
      const memorable = (k === 'browser' || k === 'mail_client' || k === 'other') && !features.net.appleRelay && event.ip !== '';
      const entry: Entry = { event, decision: undefined as unknown as Decision, revision: opts.revisions?.[i] ?? 0, features, memorable, fanoutKey: undefined, hits: undefined, memory: undefined, epoch: this.epoch, batch: no, index: i };
      insertInOrder(history.entries, entry);
      fresh.push(entry);
      touch(history);
      if (event.atMs > this.latestAtMs) this.latestAtMs = event.atMs;
      if (memorable) {
        let m = this.memory.get(event.tenant, event.ip);
        if (!m) this.memory.set(event.tenant, event.ip, (m = { proofs: [], histories: [], lastAtMs: event.atMs }));
        else if (event.atMs > m.lastAtMs) m.lastAtMs = event.atMs;
        entry.memory = m;
        const hs = m.histories;
        if (hs[hs.length - 1] !== history) hs.push(history);
        // Trimmed back to the bound once it has doubled: one splice per HISTORIES_PER_ADDRESS events, not one each.
        if (hs.length >= 2 * HISTORIES_PER_ADDRESS) hs.splice(0, hs.length - HISTORIES_PER_ADDRESS);
      }
      // Private Relay egress carries many people: not evidence of fan-out.
      if (event.kind === 'click' && !entry.features.net.appleRelay && event.ip !== '') {
        const fk = (entry.fanoutKey = fanoutKey(event));
        let recent = this.fanout.get(event.tenant, fk);
        if (!recent) this.fanout.set(event.tenant, fk, (recent = []));
        entry.hits = recent;
        const at = firstAtOrAfter(recent, event.atMs + 1);
        if (at === recent.length) recent.push({ atMs: event.atMs, history });
        else recent.splice(at, 0, { atMs: event.atMs, history });
        // Other messages this address touched nearby may now look like fan-out.
        const until = event.atMs + FANOUT_WINDOW_MS;
        for (let j = firstAtOrAfter(recent, event.atMs - FANOUT_WINDOW_MS); j < recent.length && recent[j]!.atMs <= until; j++) {
          const h = recent[j]!.history;
          if (h.evicted) touch(this.messages.get(h.tenant, h.message));
          else if (h.mark !== no && fanoutMayChange(h, fk, event.atMs)) touch(h);
        }
        // The oldest clicks go first.
        if (recent.length >= 2 * FANOUT_HITS) recent.splice(0, recent.length - FANOUT_HITS);
      }
    }
    const revised: Entry[] = [];
    const ctx = this.scratch;
    // A new proof revisits the pair's histories, even ones done already in this batch; proofs only
    // accumulate, so this ends.
    for (let t = 0; t < touched.length; t++) {
      const history = touched[t]!;
      for (const entry of history.entries) {
        this.context(entry, history.entries, ctx);
        if (proves(entry.event, ctx) && this.prove(entry)) {
          for (const h of this.refresh(entry).memory?.histories ?? []) {
            if (h.evicted || h === history || !this.provableIn(h, entry)) continue;
            h.mark = no;
            touched.push(h);
          }
        }
        if (entry.ctx && sameContext(entry.ctx, ctx)) continue;
        entry.ctx = { ...ctx };
        const decision = calibrated(decide(entry.event, entry.ctx, entry.features), this.calibration);
        if (entry.batch === no) {
          entry.decision = decision;
        } else if (decision.actor !== entry.decision.actor || decision.source !== entry.decision.source) {
          if (entry.revisedIn !== no) {
            entry.revisedIn = no;
            entry.before = entry.decision;
            revised.push(entry);
          }
          entry.decision = decision;
        } else entry.decision = decision;
      }
    }
    // An event revised back to what it was before this batch is no revision.
    const changed: Classified[] = [];
    for (const entry of revised) {
      const b = entry.before!;
      entry.before = undefined;
      if (b.actor === entry.decision.actor && b.source === entry.decision.source) continue;
      entry.revision++;
      changed.push({ event: entry.event, decision: entry.decision, revision: entry.revision });
    }
    // Verdicts come back in the batch's order.
    const verdicts = new Array<Classified>(batch.length);
    for (const e of fresh) verdicts[e.index] = { event: e.event, decision: e.decision, revision: e.revision };
    for (const [i, known] of repeats) verdicts[i] = { event: batch[i]!, decision: this.spelledOut(known), revision: known.revision };
    // The history keeps what later batches compare (actor, source); the reasons went out with the
    // verdicts and are written again from the entry's context should the same event come again.
    for (const history of touched) for (const entry of history.entries) if (entry.decision.reasons.length > 0) entry.decision = slim(entry.decision);
    this.evict();
    return { verdicts, revised: changed };
  }

  /** The entry's decision with its reasons: decide() again on the context the decision was made with. */
  private spelledOut(entry: Entry): Decision {
    if (entry.decision.reasons.length > 0 || !entry.ctx) return entry.decision;
    return calibrated(decide(entry.event, entry.ctx, entry.features), this.calibration);
  }

  /** What the message's history (and the campaign's fan-out) says about `e`, written into `out`. */
  private context(entry: Entry, list: readonly Entry[], out: EventContext): void {
    const e = entry.event;
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
        if (o !== e && dt <= 0 && dt >= -10_000 && (features.ua.kind === 'office_discovery' || (features.ua.kind === 'office_app' && o.kind === 'click'))) officeHelperBefore = true;
      } else if (e.kind === 'click' && o.kind === 'click' && o.link === e.link && dt > 0 && dt <= PRECURSOR_WINDOW_MS) {
        followedByOtherIp = true;
      }
    }
    let fanoutMessages = 0;
    if (entry.fanoutKey !== undefined) {
      const recent = this.refresh(entry).hits;
      if (recent && recent.length > 1) {
        // Distinct messages in the window, counted up to the rule's threshold (more changes nothing).
        const stamp = ++this.stamp;
        const until = e.atMs + FANOUT_WINDOW_MS;
        for (let j = firstAtOrAfter(recent, e.atMs - FANOUT_WINDOW_MS); j < recent.length && recent[j]!.atMs <= until && fanoutMessages < FANOUT_RECIPIENTS; j++) {
          const h = recent[j]!.history;
          if (h.stamp !== stamp) {
            h.stamp = stamp;
            fanoutMessages++;
          }
        }
      } else if (recent) fanoutMessages = 1;
    }
    out.burstRequests = burstRequests;
    out.burstLinks = popcount(linkMask) + (bigLinks?.size ?? 0);
    out.burstSpanMs = hi >= lo ? hi - lo : 0;
    out.sameIpHitTrap = sameIpHitTrap;
    out.followedByOtherIp = followedByOtherIp;
    out.officeHelperBefore = officeHelperBefore;
    out.fanoutMessages = fanoutMessages;
    out.provenBeforeMs = entry.memorable && this.proofCount > 0 ? this.provenBefore(entry) : -1;
  }

  /** The entry's fan-out list and address memory, looked up again after the tables were cleared. */
  private refresh(entry: Entry): Entry {
    if (entry.epoch !== this.epoch) {
      const e = entry.event;
      entry.hits = entry.fanoutKey === undefined ? undefined : this.fanout.get(e.tenant, entry.fanoutKey);
      entry.memory = entry.memorable ? this.memory.get(e.tenant, e.ip) : undefined;
      // Cleared tables fill again only with later events: until then, look again next time.
      if ((entry.fanoutKey === undefined || entry.hits) && (!entry.memorable || entry.memory)) entry.epoch = this.epoch;
    }
    return entry;
  }

  /** Records that the entry proves its pair automated; true when the proof is new and may raise events already seen. */
  private prove(entry: Entry): boolean {
    const e = entry.event;
    const m = entry.memorable ? this.refresh(entry).memory : undefined;
    if (!m) return false;
    const ua = userAgent(e);
    const proofs = m.proofs;
    let i = proofs.length;
    while (i > 0 && proofs[i - 1]!.atMs > e.atMs) i--;
    for (let j = i - 1; j >= 0 && proofs[j]!.atMs === e.atMs; j--) if (proofs[j]!.ua === ua) return false;
    // Older than every proof kept, with the list full: it would be dropped at once.
    if (i === 0 && proofs.length >= PROOFS_PER_ADDRESS) return false;
    // The pair's latest proof before this one already covers every event seen at the address up to its
    // window's end: when nothing later has been seen, this proof raises nothing new (no revisit).
    let covered = false;
    for (let j = i - 1; j >= 0; j--) {
      if (proofs[j]!.ua !== ua) continue;
      covered = m.lastAtMs <= proofs[j]!.atMs + MEMORY_WINDOW_MS;
      break;
    }
    proofs.splice(i, 0, { atMs: e.atMs, ua });
    this.proofCount++;
    // The latest proofs are the ones later events need; the oldest go first.
    if (proofs.length > PROOFS_PER_ADDRESS) proofs.splice(0, proofs.length - PROOFS_PER_ADDRESS);
    return !covered;
  }

  /** Whether h holds an event of p's pair, at or after p and within the window, not yet known as proven. */
  private provableIn(h: History, p: Entry): boolean {
    // Entries are in time order: only those at or after the proof can be raised by it.
    for (let i = h.entries.length - 1; i >= 0; i--) {
      const { event: o, ctx, memorable } = h.entries[i]!;
      const dt = o.atMs - p.event.atMs;
      if (dt < 0) break;
      if (memorable && dt <= MEMORY_WINDOW_MS && (!ctx || ctx.provenBeforeMs === -1) && samePair(o, p.event)) return true;
    }
    return false;
  }

  /** Time since the latest proof of the entry's address and user-agent at or before it (within the memory window), or -1. */
  private provenBefore(entry: Entry): number {
    const proofs = this.refresh(entry).memory?.proofs;
    if (!proofs || proofs.length === 0) return -1;
    const e = entry.event;
    const ua = userAgent(e);
    for (let i = proofs.length - 1; i >= 0; i--) {
      const dt = e.atMs - proofs[i]!.atMs;
      if (dt < 0 || proofs[i]!.ua !== ua) continue;
      return dt <= MEMORY_WINDOW_MS ? dt : -1;
    }
    return -1;
  }

  private evict(): void {
    while (this.messages.size > this.maxMessages) {
      const history = this.order[this.orderHead]!;
      this.order[this.orderHead++] = undefined as unknown as History;
      history.evicted = true;
      this.messages.delete(history.tenant, history.message);
      this.forgotten.set(forgottenKey(history.tenant, history.message), true);
      if (this.forgotten.size > FORGOTTEN_PER_HELD * this.maxMessages) this.forgotten.delete(this.forgotten.keys().next().value!);
    }
    if (this.orderHead > 1024 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
    if (this.fanout.size > this.maxMessages || this.memory.size > this.maxMessages) {
      this.epoch++;
      if (this.fanout.size > this.maxMessages) this.fanout.clear();
      if (this.memory.size > this.maxMessages) this.trimMemory();
    }
  }

  /**
   * Brings the memory back to nine tenths of its bound, keeping what later verdicts need most: first
   * go the addresses never proven automated (they are kept only so that a later proof can revisit
   * their histories), least recently seen first; then those whose every proof is past the window;
   * then the proven ones, oldest proof first. So one tenant's many new addresses cannot wipe another
   * tenant's proofs, as clearing the whole table did (session 18).
   */
  private trimMemory(): void {
    const drop = this.memory.size - Math.floor(this.maxMessages * 0.9);
    if (drop <= 0) return;
    // Each address's place in the order of going, as one number: its rank (0 never proven, 1 every
    // proof past the window, 2 proven) above its time (last seen, or latest proof). Sorting these
    // numbers alone (a typed array) and cutting at the drop-th takes 76-130 ms at 200,000 addresses,
    // where sorting the entries themselves took 150-230 ms (measured in-process; docs/classification.md).
    const order = (m: AddressMemory): number => {
      const latest = m.proofs.length > 0 ? m.proofs[m.proofs.length - 1]!.atMs : -1;
      const rank = latest < 0 ? 0 : latest + MEMORY_WINDOW_MS < this.latestAtMs ? 1 : 2;
      return rank * RANK_SPAN + Math.min(RANK_SPAN - 1, Math.max(0, rank === 2 ? latest : m.lastAtMs));
    };
    // Keys in the tables' own order (the same on the second walk: nothing changes in between).
    const keys = new Float64Array(this.memory.size);
    let n = 0;
    this.memory.forEach((m) => (keys[n++] = order(m)));
    const sorted = keys.slice().sort();
    const cut = sorted[drop - 1]!;
    // Below the cut all go; at the cut, as many as are still due.
    let atCut = 0;
    for (let i = drop - 1; i >= 0 && sorted[i] === cut; i--) atCut++;
    const doomed: Array<{ tenant: string; ip: string; proofs: number }> = [];
    n = 0;
    this.memory.forEach((m, tenant, ip) => {
      const k = keys[n++]!;
      if (k < cut || (k === cut && atCut-- > 0)) doomed.push({ tenant, ip, proofs: m.proofs.length });
    });
    for (const d of doomed) {
      this.memory.delete(d.tenant, d.ip);
      this.proofCount -= d.proofs;
    }
  }
}
