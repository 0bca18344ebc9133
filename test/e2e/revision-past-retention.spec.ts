import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ClassifiedEventSchema, Source, type ClassifiedEvent } from '@winnow/proto';
import { addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import type { StatsConfig } from '@winnow/config';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf, metricValue } from '@winnow/testing';
import { removeDir } from '../support/stack';

const KEY = 'revision-past-retention-key-0123456789abcdef';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
const T0 = Date.UTC(2026, 9, 1, 9, 0, 0);
const DAY = 86_400_000;

function click(id: string, atMs: number, link: number, linkRole: 'content' | 'honeypot'): ClassifiedEvent {
  const trace = parseTraceLine({
      id,
      tenant: 'clinic',
      campaign: 'reminders',
      message: 'm1',
      links: 3,
    event: { kind: 'click', at: new Date(atMs).toISOString(), method: 'GET', ip: '192.0.2.77', link, linkRole, headers: { 'user-agent': CHROME, 'accept-language': 'en-US' } },
  });
  const event = edgeEventOf(trace);
  return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, addressKeyer(KEY)) });
}

describe('a revision of an event past retention', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));

  it('writes nothing: the swept event is not stored again and its counters stay as they were', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-revision-retention-'));
    dirs.push(dir);
    const store = new LmdbEventStore(dir, { retentionDays: 1 });
    const registry = new Registry();
    const ingestor = new Ingestor(store, { addressKey: KEY } as StatsConfig, registry);
    try {
      // A click that looks like a person's, then swept by retention while the history still holds it.
      expect(await ingestor.ingest([click('first', T0, 0, 'content')])).toMatchObject({ stored: 1, revised: 0 });
      const [first] = await store.messageEvents('clinic', 'm1');
      expect(first!.verdict!.source).toBe(Source.HUMAN);
      const before = await store.campaignCounters('clinic', 'reminders');
      expect(await store.sweepExpired(T0 + 2 * DAY)).toBe(1);

      // The same address then follows the hidden trap link: the earlier click would be withdrawn.
      const r = await ingestor.ingest([click('trap', T0 + 4_000, 2, 'honeypot')]);
      expect(r).toMatchObject({ stored: 1, revised: 0, gone: 1 });
      expect(metricValue(await registry.metrics(), 'winnow_verdict_revisions_gone_total')).toBe(1);
      const timeline = await store.messageEvents('clinic', 'm1');
      expect(timeline.map((e) => e.event!.id)).toEqual(['trap']);
      const after = await store.campaignCounters('clinic', 'reminders');
      expect(after.clicks[Source.HUMAN]).toBe(before.clicks[Source.HUMAN]);
      expect(after.clicks[Source.HUMAN]).toBe(1);
    } finally {
      await store.close();
    }
  });
});
