// npm run -s bench:ingest
//
// Stats' share of the pipeline in one process, without the other services, gRPC or wrk: the
// classifier's batches to stats are built first (IngestEventsRequest bytes, as the classifier writes
// them), then timed: each batch read with the wire reader and taken by the stats Ingestor (the
// contextual rules with the message's history, the tombstone check, the ledger plan, one durable
// LMDB transaction). The traffic has bench:pipeline's shape: BENCH_MESSAGES (20,000) messages of one
// campaign, each with a pixel and two links, BENCH_EVENTS (200,000) requests going round the
// 60,000 URLs, all from one address with one browser user-agent, in batches of 1,000. Prints stored
// events/s and the process's CPU microseconds per stored event (user and system). Steadier than
// bench:pipeline, so a change to stats can be measured here first (interleave runs: the machine's
// speed drifts); the pipeline's figure is the one the issue asks for.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { v7 } from 'uuid';
import { ClassifiedEventSchema, ProtoWriter, readIngestEventsRequest } from '@winnow/proto';
import { addressKeyer, evidenceOf } from '@winnow/classification';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf } from '@winnow/testing';

const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
const events = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = 1_000;
const key = 'bench-ingest-address-key-0123456789abcdef';
const keyer = addressKeyer(key);
const writer = new ProtoWriter();
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const T0 = Date.now() - 3_600_000;

// The batches, built before the clock starts (as the classifier would send them).
const batches = [];
let batch = [];
for (let i = 0; i < events; i++) {
  const url = i % (messages * 3);
  const slot = url % 3;
  const at = T0 + 3_600_000 + Math.floor(i / 10);
  const edge = edgeEventOf({
    id: v7({ msecs: at }), tenant: 'demo-clinic', campaign: 'bench', message: `m${Math.floor(url / 3)}`, recipientDomain: '', deliveredAtMs: T0, links: 3,
    kind: slot === 0 ? 'open' : 'click', link: slot === 0 ? 0 : slot - 1, linkRole: 'content', atMs: at, method: 'GET', ip: '127.0.0.1',
    headers: { 'user-agent': UA, 'accept-language': 'en-GB' },
  });
  const evidence = evidenceOf(edge, keyer);
  edge.ip = '';
  edge.headers = {};
  batch.push(create(ClassifiedEventSchema, { event: edge, evidence }));
  if (batch.length === BATCH || i === events - 1) {
    batches.push(writer.classifiedEventList(batch));
    batch = [];
  }
}

const dir = mkdtempSync(join(tmpdir(), 'winnow-bench-ingest-'));
const store = new LmdbEventStore(dir);
await store.init();
const ingestor = new Ingestor(store, { addressKey: key }, new Registry());
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let stored = 0;
for (const bytes of batches) {
  const req = readIngestEventsRequest(bytes);
  if (!req) throw new Error('the wire reader declined a batch the writer made');
  stored += (await ingestor.ingest(req.events)).stored;
}
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await store.close();
rmSync(dir, { recursive: true, force: true });
const per = (us) => Number((us / stored).toFixed(1));
console.log(JSON.stringify({ events, stored, batches: batches.length, storedPerSec: Math.round((stored / ms) * 1000), cpuMicrosecondsPerEvent: per(cpu.user + cpu.system), userMicroseconds: per(cpu.user), systemMicroseconds: per(cpu.system) }, null, 2));
