import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ClassifiedEventSchema } from '@winnow/proto';
import { Classifier, addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import type { StatsConfig } from '@winnow/config';
import { buildCampaigns } from '@winnow/evaluation';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf, metricValue } from '@winnow/testing';
import { removeDir } from '../support/stack';

// Two statistics replicas writing one database (what a MongoDB replica set allows): each keeps its
// own history cache, and the history sequence fenced into every batch's transaction makes the one
// that missed the other's writes rebuild before it decides. Both ingestors here share one store
// object, standing in for two processes on one replica set (no replica set can run here: FerretDB
// has no transactions, and the embedded store takes one process).
describe('two statistics replicas ingesting one tenant into one store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-stats-replicas-'));
  const store = new LmdbEventStore(dir);
  afterAll(async () => {
    await store.close();
    removeDir(dir);
  });

  it('give the offline verdicts, batches alternating between them', async () => {
    await store.init();
    const key = 'stats-replicas-address-key-0123456789abcdef';
    const config = { addressKey: key } as StatsConfig;
    const registries = [new Registry(), new Registry()];
    const replicas = registries.map((r) => new Ingestor(store, config, r));
    const traces = buildCampaigns().filter((c) => c.name === 'reminders-a' || c.name === 'reminders-b').flatMap((c) => c.lines).map((l) => parseTraceLine(l));
    const offline = new Map(new Classifier().classify(traces).verdicts.map((v) => [v.event.id, v.decision.source]));
    const keyer = addressKeyer(key);
    const events = traces.map((t) => {
      const event = edgeEventOf(t);
      return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, keyer) });
    });
    for (let i = 0, n = 0; i < events.length; i += 50, n++) await replicas[n % 2]!.ingest(events.slice(i, i + 50));
    const stored = new Map<string, number>();
    for await (const page of store.scanEvents(traces[0]!.tenant, 0, 1000)) for (const e of page) stored.set(e.event!.id, e.verdict!.source);
    expect(stored.size).toBe(traces.length);
    expect([...offline].filter(([id, s]) => stored.get(id) !== s)).toEqual([]);
    const stale = await Promise.all(registries.map(async (r) => metricValue(await r.metrics(), 'winnow_history_stale_total') ?? 0));
    expect(stale[0]! + stale[1]!).toBeGreaterThan(10);
  }, 60_000);
});
