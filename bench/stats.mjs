// npm run -s bench:stats
//
// Loads 100,000 and then 1,000,000 classified events of one campaign into each store (the embedded
// LMDB store always; MongoDB too when MONGODB_URL is set) and prints, at both sizes:
//   - ingest throughput (events per second through EventStore.recordEvents, batches of 1,000),
//   - campaign-statistics latency from the counters (median and p99 of 200 queries),
//   - the latency of computing the same figures by aggregating the raw events (3 runs),
// BENCH_STORES=mongodb runs only the MongoDB part.
// and checks that both ways give the same numbers.  BENCH_SIZES=100000,1000000 to change sizes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { ClassifiedEventSchema, DeliverySchema, EventFilterSchema, PolicyMode, Source } from '@winnow/proto';
import { campaignStats, countingMask, isCountable, sourceBit } from '@winnow/engagement';
import { LmdbEventStore, MongoEventStore } from '@winnow/storage';

const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const TENANT = 'bench';
const CAMPAIGN = 'big';
const T0 = Date.UTC(2026, 9, 1);
const SOURCES = [Source.HUMAN, Source.HUMAN, Source.HUMAN, Source.APPLE_MPP, Source.APPLE_MPP, Source.SECURITY_SCANNER, Source.GMAIL_PREFETCH, Source.BOT, Source.LINK_PREVIEW];

function event(i) {
  const source = SOURCES[i % SOURCES.length];
  const id = `e${i}`;
  return create(ClassifiedEventSchema, {
    event: { id, tenant: TENANT, campaign: CAMPAIGN, message: `m${Math.floor(i / 5)}`, kind: i % 3 === 0 ? 2 : 1, method: i % 17 === 0 ? 'HEAD' : 'GET', ip: '192.0.2.1', atUnixMs: String(T0 + i * 1000), headers: {} },
    verdict: { eventId: id, actor: source === Source.HUMAN ? 1 : 2, source, confidence: 0.9, reasons: ['bench'], rulesetVersion: 'bench' },
  });
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

/** The same figures, the slow way: every raw event of the campaign, paged, folded by message. */
async function rawFigures(store) {
  const perMessage = new Map();
  let token = '';
  let opens = 0;
  let clicks = 0;
  const mask = countingMask(undefined);
  do {
    const page = await store.listEvents(create(EventFilterSchema, { tenant: TENANT, campaign: CAMPAIGN }), 1000, token);
    for (const e of page.events) {
      const ev = e.event;
      if (!isCountable(ev.method, ev.headers)) continue;
      const bit = sourceBit(e.verdict.source);
      const m = perMessage.get(ev.message) ?? { open: false, click: false };
      if (ev.kind === 1 && mask.opens & bit) { opens++; m.open = true; }
      if (ev.kind === 2 && mask.clicks & bit) { clicks++; m.click = true; }
      perMessage.set(ev.message, m);
    }
    token = page.nextPageToken;
  } while (token);
  let uniqueOpens = 0;
  let uniqueClicks = 0;
  for (const m of perMessage.values()) {
    if (m.click) uniqueClicks++;
    if (m.open || m.click) uniqueOpens++;
  }
  return { opens, clicks, uniqueOpens, uniqueClicks };
}

async function run(name, store) {
  await store.init();
  process.stdout.write(`\n${name}\n${'size'.padStart(9)} ${'ingest ev/s'.padStart(12)} ${'stats p50'.padStart(10)} ${'stats p99'.padStart(10)} ${'raw agg p50'.padStart(12)} ${'raw agg p99'.padStart(12)} ${'speed-up (p99)'.padStart(15)}\n`);
  let loaded = 0;
  const p99s = [];
  for (const size of sizes) {
    const t = process.hrtime.bigint();
    const deliveries = [];
    for (let m = Math.floor(loaded / 5); m < Math.floor(size / 5); m++) deliveries.push(create(DeliverySchema, { tenant: TENANT, campaign: CAMPAIGN, message: `m${m}`, deliveredAtUnixMs: String(T0), links: 3 }));
    for (let i = 0; i < deliveries.length; i += 1000) await store.recordDeliveries(deliveries.slice(i, i + 1000));
    for (let i = loaded; i < size; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(size, i + 1000); j++) batch.push(event(j));
      await store.recordEvents(batch);
    }
    const ingest = (size - loaded) / (ms(t) / 1000);
    loaded = size;
    const lat = [];
    let figures;
    for (let q = 0; q < 200; q++) {
      const s = process.hrtime.bigint();
      const [counters, policy] = await Promise.all([store.campaignCounters(TENANT, CAMPAIGN), store.getPolicy(TENANT)]);
      figures = campaignStats(TENANT, CAMPAIGN, counters, policy, PolicyMode.UNSPECIFIED).reported;
      lat.push(ms(s));
    }
    const raw = [];
    let slow;
    for (let q = 0; q < 3; q++) {
      const s = process.hrtime.bigint();
      slow = await rawFigures(store);
      raw.push(ms(s));
    }
    const same = String(slow.opens) === figures.opens && String(slow.clicks) === figures.clicks && String(slow.uniqueOpens) === figures.uniqueOpens && String(slow.uniqueClicks) === figures.uniqueClicks;
    if (!same) throw new Error(`counters and raw aggregation disagree at ${size}: ${JSON.stringify(figures)} vs ${JSON.stringify(slow)}`);
    p99s.push(pct(lat, 99));
    process.stdout.write(`${String(size).padStart(9)} ${Math.round(ingest).toString().padStart(12)} ${pct(lat, 50).toFixed(3).padStart(8)}ms ${pct(lat, 99).toFixed(3).padStart(8)}ms ${pct(raw, 50).toFixed(0).padStart(10)}ms ${pct(raw, 99).toFixed(0).padStart(10)}ms ${Math.round(pct(raw, 99) / pct(lat, 99)).toString().padStart(14)}x\n`);
  }
  if (p99s.length === 2) process.stdout.write(`p99 at ${sizes[1]} / p99 at ${sizes[0]}: ${(p99s[1] / p99s[0]).toFixed(2)} (goal <= 1.5); figures identical both ways\n`);
  await store.close();
}

const dir = mkdtempSync(join(tmpdir(), 'winnow-bench-stats-'));
try {
  if (process.env.BENCH_STORES !== 'mongodb') await run('embedded (LMDB)', new LmdbEventStore(dir));
  if (process.env.MONGODB_URL) {
    const db = `winnow_bench_${Date.now()}`;
    const store = new MongoEventStore({ url: process.env.MONGODB_URL, database: db, retentionDays: 0 });
    await run(`MongoDB at ${process.env.MONGODB_URL} (database ${db})`, store);
  } else {
    process.stdout.write('\nMongoDB: skipped (set MONGODB_URL)\n');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
