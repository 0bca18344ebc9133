// npm run -s bench:history
//
// The cost of the statistics service owning the history (docs/decisions.md, 27): ingests COPIES
// (default 10) copies of the synthetic campaigns (7,036 events each) for one tenant through the
// stats Ingestor on the embedded store, in batches of 500, then starts a fresh Ingestor (a restarted
// stats process) and times its first batch, which rebuilds the tenant's history from the store.
// Prints events, ingest events/s (in process: classification with history, planning, one fsynced
// LMDB transaction per batch), rebuild ms, the heap the rebuilt history holds (after a full
// collection) and resident memory. Then the heap one held message costs: HELD_MESSAGES (50,000)
// messages of an open and a click each, per message and per event.
import { mkdtempSync, rmSync } from 'node:fs';
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

// What one message costs the history: HELD_MESSAGES (default 50,000) messages of two events each (an
// open and a click, each message from its own address, three user-agents), the heap after a full
// collection against the heap before, per message and per event (WINNOW_HISTORY_MAX_MESSAGES sizing).
{
  const messages = Number(process.env.HELD_MESSAGES ?? 50_000);
  const heldDir = mkdtempSync(join(tmpdir(), 'winnow-bench-held-'));
  const heldStore = new LmdbEventStore(heldDir);
  await heldStore.init();
  const uas = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
  ];
  const T0 = Date.UTC(2026, 10, 30, 9);
  const make = (m, kind, k) => {
    const ev = edgeEventOf({ id: `h-${m}-${kind}`, tenant: 'held', campaign: 'reminders', message: `m-${m}`, recipientDomain: '', deliveredAtMs: T0, links: 3, kind, link: 0, linkRole: 'content', atMs: T0 + 60_000 + m * 10 + k, method: 'GET', ip: `198.51.${(m >> 8) & 255}.${m & 255}`, headers: { 'user-agent': uas[m % 3], 'accept-language': 'en-US,en;q=0.9' } });
    return create(ClassifiedEventSchema, { event: ev, evidence: evidenceOf(ev, keyer) });
  };
  const held = new Ingestor(heldStore, { addressKey: key, historyMaxMessages: 10_000_000 }, new Registry());
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let m = 0; m < messages; m += 500) {
    const batch = [];
    for (let i = m; i < Math.min(messages, m + 500); i++) batch.push(make(i, 'open', 0), make(i, 'click', 1));
    await held.ingest(batch);
  }
  globalThis.gc?.();
  const bytes = process.memoryUsage().heapUsed - before;
  // One more event after the reading: the history is in use (so alive) when the heap is read.
  const next = await held.ingest([make(messages, 'open', 0)]);
  console.log(JSON.stringify({ messagesHeld: messages, heapMB: Math.round(bytes / 1e6), bytesPerMessage: Math.round(bytes / messages), bytesPerEvent: Math.round(bytes / (2 * messages)), nextStored: next.stored }));
  await heldStore.close();
  rmSync(heldDir, { recursive: true, force: true });
}
