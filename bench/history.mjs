// npm run -s bench:history
//
// The cost of the statistics service owning the history (docs/decisions.md, 27): ingests COPIES
// (default 10) copies of the synthetic campaigns (7,036 events each) for one tenant through the
// stats Ingestor on the embedded store, in batches of 500, then starts a fresh Ingestor (a restarted
// stats process) and times its first batch, which rebuilds the tenant's history from the store.
// Prints events, ingest events/s (in process: classification with history, planning, one fsynced
// LMDB transaction per batch), rebuild ms, the heap the rebuilt history holds (after a full
// collection) and resident memory.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { ClassifiedEventSchema } from '@winnow/proto';
import { addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import { buildCampaigns } from '@winnow/evaluation';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf } from '@winnow/testing';
const key = 'x'.repeat(40);
const dir = mkdtempSync(join(tmpdir(), 'winnow-bench-history-'));
const store = new LmdbEventStore(dir); await store.init();

const base = buildCampaigns().flatMap((c) => c.lines).map((l) => parseTraceLine(l));
const keyer = addressKeyer(key);
const copies = Number(process.env.COPIES ?? 10);
let ing = new Ingestor(store, { addressKey: key }, new Registry());
let t0 = performance.now(); let n = 0;
for (let c = 0; c < copies; c++) {
  const evs = base.map((t) => { const e = edgeEventOf({ ...t, tenant: 'bench', id: `${t.id}-${c}`, message: `${t.message}-${c}` }); return create(ClassifiedEventSchema, { event: e, evidence: evidenceOf(e, keyer) }); });
  for (let i = 0; i < evs.length; i += 500) { await ing.ingest(evs.slice(i, i + 500)); n += Math.min(500, evs.length - i); }
}
const ingestMs = performance.now() - t0;
ing = new Ingestor(store, { addressKey: key }, new Registry());
const one = base[0]; const e = edgeEventOf({ ...one, tenant: 'bench', id: 'last', message: 'last' });
t0 = performance.now();
await ing.ingest([create(ClassifiedEventSchema, { event: e, evidence: evidenceOf(e, keyer) })]);
const rebuildMs = Math.round(performance.now() - t0);
// The heap the rebuilt history holds (the first Ingestor is garbage by now): after a full collection.
globalThis.gc?.();
console.log(JSON.stringify({ events: n, ingestPerSec: Math.round(n / ingestMs * 1000), rebuildMs, heapMB: Math.round(process.memoryUsage().heapUsed / 1e6), rss: Math.round(process.memoryUsage().rss / 1e6) }));
await store.close();
await import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true }));
