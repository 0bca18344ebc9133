import { create } from '@bufbuild/protobuf';
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import {
  Actor,
  ClassifiedEventSchema,
  DeadLetterSchema,
  DeliverySchema,
  EventFilterSchema,
  EventKind,
  EvidenceSchema,
  LinkRole,
  StoredApiKeySchema,
  Source,
  SuppressionPolicySchema,
  TrackingDomainSchema,
  VerdictSchema,
  type ClassifiedEvent,
} from '@winnow/proto';
import { countingMask, figures } from '@winnow/engagement';
import { StaleHistoryError, tombstoneKey, type EventStore, type Revision } from './event-store.port';
import { StoreInputError } from './ledger';

export interface StoreHarness {
  store: EventStore;
  /** Closes and opens the same store again (durability); absent where not meaningful. */
  reopen?: () => Promise<EventStore>;
  cleanup: () => Promise<void>;
}

const T0 = Date.UTC(2026, 2, 2, 10, 0, 0);

export function classified(
  id: string,
  opts: { tenant?: string; campaign?: string; message?: string; kind?: EventKind; method?: string; source?: Source; at?: number; revision?: number },
): ClassifiedEvent {
  const source = opts.source ?? Source.HUMAN;
  return create(ClassifiedEventSchema, {
    event: {
      id,
      tenant: opts.tenant ?? 'acme',
      campaign: opts.campaign ?? 'spring',
      message: opts.message ?? 'm1',
      kind: opts.kind ?? EventKind.OPEN,
      linkRole: LinkRole.CONTENT,
      method: opts.method ?? 'GET',
      ip: '192.0.2.1',
      atUnixMs: String(opts.at ?? T0),
      headers: { 'user-agent': 'test' },
    },
    verdict: {
      eventId: id,
      actor: source === Source.HUMAN ? Actor.HUMAN : Actor.AUTOMATED,
      source,
      confidence: 0.9,
      reasons: ['test'],
      rulesetVersion: 'test',
      revision: opts.revision ?? 0,
    },
  });
}

const delivery = (message: string, campaign = 'spring', tenant = 'acme') =>
  create(DeliverySchema, { tenant, campaign, message, deliveredAtUnixMs: String(T0 - 60_000), links: 3 });

/** The contract every EventStore adapter must keep. */
export function eventStoreConformance(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`EventStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: EventStore;
    beforeEach(async () => {
      h = await makeHarness();
      store = h.store;
      await store.init();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('records deliveries once', async () => {
      expect(await store.recordDeliveries([delivery('m1'), delivery('m2')])).toEqual({ recorded: 2, duplicates: 0 });
      expect(await store.recordDeliveries([delivery('m1'), delivery('m3')])).toEqual({ recorded: 1, duplicates: 1 });
      expect((await store.campaignCounters('acme', 'spring')).delivered).toBe(3);
      expect(await store.message('acme', 'm1')).toMatchObject({ campaign: 'spring', deliveredAtMs: T0 - 60_000, links: 3 });
    });

    it('ingesting the same batch twice changes nothing', async () => {
      const batch = [
        classified('e1', { source: Source.APPLE_MPP }),
        classified('e2', { kind: EventKind.CLICK }),
        classified('e3', { message: 'm2', kind: EventKind.CLICK, source: Source.SECURITY_SCANNER }),
      ];
      expect(await store.recordEvents(batch)).toEqual({ stored: 3, duplicates: 0, revised: 0, gone: 0 });
      const before = await store.campaignCounters('acme', 'spring');
      expect(await store.recordEvents(batch)).toEqual({ stored: 0, duplicates: 3, revised: 0, gone: 0 });
      expect(await store.campaignCounters('acme', 'spring')).toEqual(before);
      // Repeats inside one batch count once as well.
      expect(await store.recordEvents([classified('e4', {}), classified('e4', {})])).toEqual({ stored: 1, duplicates: 1, revised: 0, gone: 0 });
    });

    it('keeps exact unique counts under any policy, and revisions move them', async () => {
      await store.recordDeliveries([delivery('m1'), delivery('m2'), delivery('m3')]);
      await store.recordEvents([
        classified('a', { message: 'm1', source: Source.APPLE_MPP }),
        classified('b', { message: 'm1', source: Source.APPLE_MPP, at: T0 + 1 }),
        classified('c', { message: 'm2', kind: EventKind.CLICK, source: Source.SECURITY_SCANNER }),
        classified('d', { message: 'm2', kind: EventKind.CLICK, method: 'HEAD', source: Source.SECURITY_SCANNER }),
        classified('e', { message: 'm3', kind: EventKind.CLICK, source: Source.HUMAN }),
      ]);
      let c = await store.campaignCounters('acme', 'spring');
      expect(figures(c, countingMask(undefined))).toMatchObject({ opens: 0, uniqueOpens: 1, clicks: 1, uniqueClicks: 1 });
      const onlyMpp = create(SuppressionPolicySchema, { tenant: 'acme', opens: { sources: [Source.APPLE_MPP] }, clicks: { sources: [Source.APPLE_MPP] } });
      expect(figures(c, countingMask(onlyMpp))).toMatchObject({ opens: 0, uniqueOpens: 2, clicks: 2, uniqueClicks: 2 });
      // A burst found later withdraws m3's human click; a stale revision is ignored.
      expect(await store.recordEvents([classified('e', { message: 'm3', kind: EventKind.CLICK, source: Source.SECURITY_SCANNER, revision: 1 })])).toEqual({ stored: 0, duplicates: 0, revised: 1, gone: 0 });
      expect(await store.recordEvents([classified('e', { message: 'm3', kind: EventKind.CLICK, source: Source.HUMAN, revision: 0 })])).toEqual({ stored: 0, duplicates: 1, revised: 0, gone: 0 });
      c = await store.campaignCounters('acme', 'spring');
      expect(figures(c, countingMask(undefined))).toMatchObject({ clicks: 0, uniqueClicks: 0 });
      expect(c.clicks[Source.SECURITY_SCANNER]).toBe(2);
      const timeline = await store.messageEvents('acme', 'm3');
      expect(timeline.map((e) => [e.event!.id, e.verdict!.source, e.verdict!.revision])).toEqual([['e', Source.SECURITY_SCANNER, 1]]);
    });

    it('takes a revision that names its event: the stored event and evidence stay, the verdict and counters move', async () => {
      await store.recordDeliveries([delivery('m1'), delivery('m2')]);
      const original = classified('v1', { message: 'm1', kind: EventKind.CLICK, source: Source.HUMAN });
      original.evidence = create(EvidenceSchema, { headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' }, networkOrg: 'none' });
      await store.recordEvents([original]);
      const revision = (id: string, message: string, source: Source, revision: number): Revision => ({
        tenant: 'acme',
        message,
        verdict: create(VerdictSchema, { eventId: id, actor: Actor.AUTOMATED, source, confidence: 0.9, reasons: ['burst'], rulesetVersion: 't', revision }),
      });
      expect(await store.recordEvents([], undefined, [revision('v1', 'm1', Source.SECURITY_SCANNER, 1)])).toEqual({ stored: 0, duplicates: 0, revised: 1, gone: 0 });
      // A stale one changes nothing; one of an event not stored (past retention, erased) writes nothing.
      expect(await store.recordEvents([], undefined, [revision('v1', 'm1', Source.HUMAN, 1), revision('never', 'm2', Source.BOT, 1)])).toEqual({ stored: 0, duplicates: 1, revised: 0, gone: 1 });
      const [kept] = await store.messageEvents('acme', 'm1');
      expect(kept!.event!.id).toBe('v1');
      expect(kept!.evidence?.headers['user-agent']).toBe('Mozilla/5.0 (Windows NT 10.0; Win64; x64)');
      expect([kept!.verdict!.source, kept!.verdict!.revision]).toEqual([Source.SECURITY_SCANNER, 1]);
      expect(await store.messageEvents('acme', 'm2')).toEqual([]);
      const c = await store.campaignCounters('acme', 'spring');
      expect(c.clicks[Source.HUMAN]).toBe(0);
      expect(c.clicks[Source.SECURITY_SCANNER]).toBe(1);
      expect(c.clicks[Source.BOT]).toBe(0);
      // In one call with its event, a revision applies after it.
      expect(await store.recordEvents([classified('v2', { message: 'm2', kind: EventKind.CLICK })], undefined, [revision('v2', 'm2', Source.LINK_PREVIEW, 1)])).toEqual({ stored: 1, duplicates: 0, revised: 1, gone: 0 });
      expect((await store.campaignCounters('acme', 'spring')).clicks[Source.LINK_PREVIEW]).toBe(1);
      // A revision with no event id is refused whole.
      await expect(store.recordEvents([], undefined, [revision('', 'm1', Source.BOT, 2)])).rejects.toThrow(StoreInputError);
    });

    it('refuses a bad batch whole', async () => {
      const bad = classified('x2', {});
      bad.event!.message = '';
      await expect(store.recordEvents([classified('x1', {}), bad])).rejects.toThrow(StoreInputError);
      expect(await store.messageEvents('acme', 'm1')).toEqual([]);
      expect((await store.campaignCounters('acme', 'spring')).opens.every((v) => v === 0)).toBe(true);
    });

    it('refuses a tenant id holding a NUL, which in-memory keys and tombstones would confuse with another tenant', async () => {
      await expect(store.recordEvents([classified('n1', { tenant: 'acme\u0000m1' })])).rejects.toThrow(/tenant must not contain a NUL/);
      await expect(store.recordEvents([], undefined, [{ tenant: 'acme\u0000x', message: 'm1', verdict: create(VerdictSchema, { eventId: 'e1', source: Source.BOT, revision: 1 }) }])).rejects.toThrow(/tenant must not contain a NUL/);
      await expect(store.recordDeliveries([delivery('m1', 'spring', 'acme\u0000x')])).rejects.toThrow(/tenant must not contain a NUL/);
      expect(await store.messageEvents('acme', 'm1')).toEqual([]);
    });

    it('lists events newest first, filtered and paged', async () => {
      const batch: ClassifiedEvent[] = [];
      for (let i = 0; i < 25; i++) {
        batch.push(classified(`p${i}`, { message: `m${i % 5}`, at: T0 + i * 1000, source: i % 2 ? Source.BOT : Source.HUMAN, kind: i % 3 ? EventKind.OPEN : EventKind.CLICK }));
      }
      batch.push(classified('other-tenant', { tenant: 'globex', at: T0 + 500 }));
      await store.recordEvents(batch);
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const page = await store.listEvents(create(EventFilterSchema, { tenant: 'acme' }), 10, token);
        seen.push(...page.events.map((e) => e.event!.id));
        token = page.nextPageToken;
        pages++;
      } while (token && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `p${24 - i}`));
      const bots = await store.listEvents(create(EventFilterSchema, { tenant: 'acme', source: Source.BOT, kind: EventKind.OPEN }), 100, '');
      expect(bots.events.map((e) => e.event!.id).sort()).toEqual(['p1', 'p11', 'p13', 'p17', 'p19', 'p23', 'p5', 'p7'].sort());
      const window = await store.listEvents(create(EventFilterSchema, { tenant: 'acme', fromUnixMs: String(T0 + 5000), toUnixMs: String(T0 + 8000) }), 100, '');
      expect(window.events.map((e) => e.event!.id)).toEqual(['p7', 'p6', 'p5']);
      const byMessage = await store.listEvents(create(EventFilterSchema, { tenant: 'acme', message: 'm0' }), 100, '');
      expect(byMessage.events).toHaveLength(5);
      await expect(store.listEvents(create(EventFilterSchema, { tenant: 'acme' }), 10, 'garbage!')).rejects.toThrow(/page token/);
    });

    it("scans a tenant's events oldest first from a time, in pages, evidence kept", async () => {
      const batch: ClassifiedEvent[] = [];
      // Stored out of time order, two at the same time.
      for (const i of [4, 0, 3, 1, 2, 5, 6]) batch.push(classified(`s${i}`, { message: `m${i % 3}`, at: T0 + Math.min(i, 5) * 1000 }));
      batch[0]!.evidence = create(EvidenceSchema, { addressKey: 'k1', asn: 8075, headers: { 'user-agent': 'test' } });
      batch.push(classified('s-other', { tenant: 'globex', at: T0 + 3000 }));
      await store.recordEvents(batch);
      const pages: string[][] = [];
      for await (const page of store.scanEvents('acme', T0 + 1000, 2)) pages.push(page.map((e) => e.event!.id));
      expect(pages.map((p) => p.length)).toEqual([2, 2, 2]);
      expect(pages.flat().slice(0, 4)).toEqual(['s1', 's2', 's3', 's4']);
      expect(pages.flat().slice(4).sort()).toEqual(['s5', 's6']);
      const all: ClassifiedEvent[] = [];
      for await (const page of store.scanEvents('acme', 0, 100)) all.push(...page);
      expect(all).toHaveLength(7);
      expect(all.find((e) => e.event!.id === 's4')!.evidence).toMatchObject({ addressKey: 'k1', asn: 8075, headers: { 'user-agent': 'test' } });
    });

    it("keeps an event's evidence through its revisions, and counts by the evidence's headers", async () => {
      const first = classified('ev1', { source: Source.HUMAN });
      first.event!.headers = {};
      first.evidence = create(EvidenceSchema, { addressKey: 'k', headers: { 'user-agent': 'x', 'sec-purpose': 'prefetch' } });
      await store.recordEvents([first]);
      await store.recordEvents([classified('ev1', { source: Source.BOT, revision: 1 })]);
      const [e] = await store.messageEvents('acme', 'm1');
      expect(e!.verdict!.source).toBe(Source.BOT);
      expect(e!.evidence).toMatchObject({ addressKey: 'k' });
      // A declared prefetch is never counted, wherever its header is kept.
      expect((await store.campaignCounters('acme', 'spring')).opens.reduce((a, b) => a + b, 0)).toBe(0);
    });

    it('writes a fenced batch only at the history sequence it was made at', async () => {
      expect(await store.historySequence('acme')).toBe(0);
      await store.recordEvents([classified('f1', {})], new Map([['acme', 0]]));
      expect(await store.historySequence('acme')).toBe(1);
      await expect(store.recordEvents([classified('f2', {})], new Map([['acme', 0]]))).rejects.toThrow(StaleHistoryError);
      expect(await store.messageEvents('acme', 'm1')).toHaveLength(1);
      expect(await store.historySequence('acme')).toBe(1);
      expect(await store.historySequence('globex')).toBe(0);
      await store.recordEvents([classified('f2', {})], new Map([['acme', 1]]));
      expect((await store.messageEvents('acme', 'm1')).map((e) => e.event!.id).sort()).toEqual(['f1', 'f2']);
      // One stale tenant among several: refused whole, and no tenant's sequence moved.
      await expect(store.recordEvents([classified('f3', {})], new Map([['globex', 0], ['acme', 1]]))).rejects.toThrow(StaleHistoryError);
      expect(await store.historySequence('globex')).toBe(0);
      expect(await store.historySequence('acme')).toBe(2);
    });

    it('keeps dead letters per tenant, oldest first, paged, and forgets them on request', async () => {
      // One refused for a field name no document store takes: kept all the same.
      const odd = classified('d2', {});
      odd.event!.headers = { $odd: 'x', 'a.b': 'y' };
      const letters = [classified('d1', {}), odd, classified('d3', { tenant: 'globex' })].map((event, i) =>
        create(DeadLetterSchema, { id: `00${i}-x`, tenant: event.event!.tenant, eventId: event.event!.id, failure: 'invalid', reason: `r${i}`, deadAtUnixMs: String(T0), event }),
      );
      await store.putDeadLetters(letters);
      const first = await store.listDeadLetters('acme', 1, '');
      expect(first.deadLetters.map((l) => l.eventId)).toEqual(['d1']);
      const second = await store.listDeadLetters('acme', 1, first.nextPageToken);
      expect(second.deadLetters[0]).toMatchObject({ eventId: 'd2', reason: 'r1', event: { event: { headers: { $odd: 'x', 'a.b': 'y' } } } });
      // No further page: no token, or one that leads to nothing.
      if (second.nextPageToken) expect((await store.listDeadLetters('acme', 1, second.nextPageToken)).deadLetters).toEqual([]);
      expect((await store.listDeadLetters('', 10, '')).deadLetters.map((l) => l.eventId).sort()).toEqual(['d1', 'd2', 'd3']);
      expect(await store.deleteDeadLetters('acme', ['000-x', 'nope'])).toBe(1);
      expect((await store.listDeadLetters('', 10, '')).deadLetters.map((l) => l.eventId).sort()).toEqual(['d2', 'd3']);
    });

    it('erases a message, a campaign, then a whole tenant, keeping only hashes as tombstones', async () => {
      await store.recordEvents([
        classified('x1', { message: 'm1' }),
        classified('x2', { message: 'm2' }),
        classified('x3', { message: 'm3', campaign: 'autumn' }),
        classified('g1', { tenant: 'globex' }),
      ]);
      const dead = classified('x9', { message: 'm1' });
      await store.putDeadLetters([create(DeadLetterSchema, { id: '001-d', tenant: 'acme', eventId: 'x9', failure: 'invalid', reason: 'r', deadAtUnixMs: String(T0), event: dead })]);
      expect(await store.erase({ tenant: 'acme', message: 'm1' })).toEqual({ events: 1, messages: 1, deadLetters: 1 });
      expect(await store.messageEvents('acme', 'm1')).toEqual([]);
      expect(await store.message('acme', 'm1')).toBeUndefined();
      expect((await store.listDeadLetters('acme', 10, '')).deadLetters).toEqual([]);
      expect(await store.messageEvents('acme', 'm2')).toHaveLength(1);
      // The campaign's counters stay, as aggregates.
      expect((await store.campaignCounters('acme', 'spring')).opens[Source.HUMAN]).toBe(2);
      expect(await store.erase({ tenant: 'acme', campaign: 'autumn' })).toMatchObject({ events: 1, messages: 1 });
      expect(await store.messageEvents('acme', 'm3')).toEqual([]);
      const keys = [tombstoneKey('message', 'acme', 'm1'), tombstoneKey('message', 'acme', 'm2'), tombstoneKey('campaign', 'acme', 'autumn'), tombstoneKey('tenant', 'acme')];
      expect([...(await store.tombstonesAmong(keys))].sort()).toEqual([keys[0], keys[2]].sort());
      expect(await store.erase({ tenant: 'acme', wholeTenant: true })).toMatchObject({ events: 1 });
      expect(await store.messageEvents('acme', 'm2')).toEqual([]);
      expect((await store.campaignCounters('acme', 'spring')).opens.reduce((a, b) => a + b, 0)).toBe(0);
      expect((await store.tombstonesAmong(keys)).has(keys[3]!)).toBe(true);
      expect(await store.messageEvents('globex', 'm1')).toHaveLength(1);
    });

    it('erases and lists a tenant whose id is 63 characters long, the longest allowed, and only that tenant', async () => {
      const long = `t${'x'.repeat(62)}`;
      const longer = `${long.slice(0, 62)}y`;
      await store.recordEvents([classified('l1', { tenant: long, message: 'm1' }), classified('l2', { tenant: long, message: 'm2', campaign: 'autumn' }), classified('n1', { tenant: longer })]);
      await store.putDeadLetters([create(DeadLetterSchema, { id: '001-l', tenant: long, eventId: 'l9', failure: 'invalid', reason: 'r', deadAtUnixMs: String(T0), event: classified('l9', { tenant: long }) })]);
      expect((await store.listDeadLetters(long, 10, '')).deadLetters.map((l) => l.id)).toEqual(['001-l']);
      expect(await store.erase({ tenant: long, campaign: 'autumn' })).toMatchObject({ events: 1, messages: 1 });
      expect(await store.messageEvents(long, 'm2')).toEqual([]);
      expect(await store.erase({ tenant: long, wholeTenant: true })).toEqual({ events: 1, messages: 1, deadLetters: 1 });
      expect(await store.messageEvents(long, 'm1')).toEqual([]);
      expect((await store.listDeadLetters(long, 10, '')).deadLetters).toEqual([]);
      expect(await store.messageEvents(longer, 'm1')).toHaveLength(1);
    });

    it('keeps tenants apart', async () => {
      await store.recordEvents([classified('same-id', { tenant: 'acme' }), classified('same-id', { tenant: 'globex', source: Source.BOT })]);
      expect((await store.messageEvents('acme', 'm1'))[0]!.verdict!.source).toBe(Source.HUMAN);
      expect((await store.messageEvents('globex', 'm1'))[0]!.verdict!.source).toBe(Source.BOT);
      expect((await store.campaignCounters('globex', 'spring')).opens[Source.HUMAN]).toBe(0);
    });

    it('keeps hourly buckets of counted events', async () => {
      const hour = 3_600_000;
      await store.recordEvents([
        classified('h1', { at: T0 + 10 }),
        classified('h2', { at: T0 + hour + 10, kind: EventKind.CLICK }),
        classified('h3', { at: T0 + hour + 20, kind: EventKind.CLICK, source: Source.BOT }),
        classified('h4', { at: T0 + 2 * hour, kind: EventKind.CLICK, method: 'HEAD', source: Source.BOT }),
      ]);
      const buckets = await store.hourBuckets('acme', 'spring', T0, 0);
      expect(buckets.map((b) => [b.hourStartMs - T0, b.opens[Source.HUMAN], b.clicks[Source.HUMAN], b.clicks[Source.BOT]])).toEqual([
        [0, 1, 0, 0],
        [hour, 0, 1, 1],
      ]);
      expect(await store.hourBuckets('acme', 'spring', T0 + hour, T0 + 2 * hour)).toHaveLength(1);
    });

    it('stores policies and tracking domains', async () => {
      expect(await store.getPolicy('acme')).toBeUndefined();
      await store.putPolicy(create(SuppressionPolicySchema, { tenant: 'acme', opens: { allAutomated: true }, clicks: { sources: [Source.BOT] } }));
      expect((await store.getPolicy('acme'))?.clicks?.sources).toEqual([Source.BOT]);
      const d = create(TrackingDomainSchema, { hostname: 'track.acme.test', tenant: 'acme', keys: [{ id: 'k1', secret: new Uint8Array(32).fill(7), sealing: true }] });
      await store.putDomain(d);
      expect((await store.listDomains()).map((x) => [x.hostname, x.tenant, x.keys[0]!.secret.length])).toEqual([['track.acme.test', 'acme', 32]]);
      expect(await store.deleteDomain('track.acme.test', 'globex')).toBe(false);
      expect(await store.deleteDomain('track.acme.test', 'acme')).toBe(true);
      expect(await store.listDomains()).toEqual([]);
    });

    it('stores API keys by id, per tenant, and forgets revoked ones', async () => {
      const key = (keyId: string, tenant: string) =>
        create(StoredApiKeySchema, { info: { keyId, tenant, description: 'test', createdAtUnixMs: '1' }, secretSha256: new Uint8Array(32).fill(keyId.length) });
      await store.putApiKey(key('k-acme-1', 'acme'));
      await store.putApiKey(key('k-acme-22', 'acme'));
      await store.putApiKey(key('k-globex', 'globex'));
      expect((await store.getApiKey('k-acme-1'))?.info?.tenant).toBe('acme');
      expect([...(await store.getApiKey('k-acme-22'))!.secretSha256]).toEqual(new Array(32).fill(9));
      expect((await store.listApiKeys('acme')).map((k) => k.info!.keyId).sort()).toEqual(['k-acme-1', 'k-acme-22']);
      expect(await store.deleteApiKey('k-acme-1')).toBe(true);
      expect(await store.deleteApiKey('k-acme-1')).toBe(false);
      expect(await store.getApiKey('k-acme-1')).toBeUndefined();
    });

    it('keeps what it stored across a restart', async (ctx) => {
      if (!h.reopen) {
        ctx.skip();
        return;
      }
      await store.recordDeliveries([delivery('m1')]);
      await store.recordEvents([classified('r1', { kind: EventKind.CLICK })]);
      store = await h.reopen();
      expect((await store.campaignCounters('acme', 'spring')).delivered).toBe(1);
      expect(await store.recordEvents([classified('r1', { kind: EventKind.CLICK })])).toEqual({ stored: 0, duplicates: 1, revised: 0, gone: 0 });
    });
  });
}
