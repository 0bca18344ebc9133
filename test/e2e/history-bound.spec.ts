import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ClassifiedEventSchema, EventFilterSchema, Source, type ClassifiedEvent } from '@winnow/proto';
import { addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import type { StatsConfig } from '@winnow/config';
import { buildCampaigns } from '@winnow/evaluation';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf, metricValue } from '@winnow/testing';
import { removeDir } from '../support/stack';

const KEY = 'history-bound-address-key-0123456789abcdef';

/** Every synthetic campaign's events, in time order across campaigns, as the classifier sends them. */
function events(): ClassifiedEvent[] {
  const keyer = addressKeyer(KEY);
  const traces = buildCampaigns()
    .flatMap((c) => c.lines)
    .map((l) => parseTraceLine(l))
    .sort((a, b) => a.atMs - b.atMs);
  return traces.map((t) => {
    const event = edgeEventOf(t);
    return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, keyer) });
  });
}

describe('a history bounded to fewer messages than the traffic', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));

  /** A stats Ingestor with a history of `maxMessages`, on a fresh embedded store. */
  async function open(maxMessages: number) {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-history-bound-'));
    dirs.push(dir);
    const store = new LmdbEventStore(dir);
    await store.init();
    const registry = new Registry();
    return { store, registry, ingestor: new Ingestor(store, { addressKey: KEY, historyMaxMessages: maxMessages } as StatsConfig, registry) };
  }

  async function load(maxMessages: number, all: ClassifiedEvent[]) {
    const { store, registry, ingestor } = await open(maxMessages);
    for (let i = 0; i < all.length; i += 200) await ingestor.ingest(all.slice(i, i + 200));
    const verdicts = new Map<string, string>();
    let token = '';
    do {
      const page = await store.listEvents(create(EventFilterSchema, { tenant: all[0]!.event!.tenant }), 1000, token);
      for (const e of page.events) verdicts.set(e.event!.id, `${e.verdict!.actor}/${e.verdict!.source}`);
      token = page.nextPageToken;
    } while (token);
    const campaigns = [...new Set(all.map((e) => e.event!.campaign))];
    const counters = await Promise.all(campaigns.map((c) => store.campaignCounters(all[0]!.event!.tenant, c)));
    const recalled = metricValue(await registry.metrics(), 'winnow_history_recalled_messages_total');
    await store.close();
    return { verdicts, counters, recalled };
  }

  it('reads a forgotten message back from the store at its next event: a trap hit still withdraws its earlier click', async () => {
    const keyer = addressKeyer(KEY);
    const T0 = Date.UTC(2026, 9, 1, 9, 0, 0);
    const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
    const line = (id: string, message: string, kind: 'open' | 'click', atMs: number, ip: string, link = 0, linkRole = 'content') => {
      const event = edgeEventOf(
        parseTraceLine({ id, tenant: 'clinic', campaign: 'reminders', message, links: 3, event: { kind, at: new Date(atMs).toISOString(), method: 'GET', ip, link, linkRole, headers: { 'user-agent': CHROME, 'accept-language': 'en-US' } } }),
      );
      return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, keyer) });
    };
    // A click on m0 that looks like a person's; then 300 other messages, so a history of 100 forgets
    // m0; then the same address follows m0's hidden trap link seconds after its click.
    const others = Array.from({ length: 300 }, (_, i) => line(`o${i}`, `m${i + 1}`, 'open', T0 + 10 + i, `198.51.100.${i % 250}`));
    const trace = [[line('first', 'm0', 'click', T0, '192.0.2.77')], others.slice(0, 150), others.slice(150), [line('trap', 'm0', 'click', T0 + 4_000, '192.0.2.77', 2, 'honeypot')]];
    const run = async (maxMessages: number) => {
      const { store, registry, ingestor } = await open(maxMessages);
      for (const batch of trace) await ingestor.ingest(batch);
      const timeline = (await store.messageEvents('clinic', 'm0')).map((e) => [e.event!.id, e.verdict!.source, e.verdict!.revision]);
      const counters = await store.campaignCounters('clinic', 'reminders');
      const recalled = metricValue(await registry.metrics(), 'winnow_history_recalled_messages_total');
      await store.close();
      return { timeline, counters, recalled };
    };
    const bounded = await run(100);
    const unbounded = await run(10_000);
    expect(unbounded.timeline).toEqual([
      ['first', Source.SECURITY_SCANNER, 1],
      ['trap', Source.SECURITY_SCANNER, 0],
    ]);
    expect(bounded.timeline).toEqual(unbounded.timeline);
    expect(bounded.counters).toEqual(unbounded.counters);
    expect(bounded.recalled).toBe(1);
    expect(unbounded.recalled).toBe(0);
  });

  it('gives the synthetic campaigns the verdicts of an unbounded history with a quarter of their messages', async () => {
    const all = events();
    const messages = new Set(all.map((e) => e.event!.message)).size;
    expect(messages).toBeGreaterThan(4000);
    const bounded = await load(1000, all);
    const unbounded = await load(10 * messages, all);
    expect(bounded.recalled).toBeGreaterThan(10);
    expect(unbounded.recalled).toBe(0);
    expect(bounded.verdicts.size).toBe(all.length);
    const differing = [...unbounded.verdicts].filter(([id, v]) => bounded.verdicts.get(id) !== v);
    expect(differing).toEqual([]);
    expect(bounded.counters).toEqual(unbounded.counters);
  });
});
