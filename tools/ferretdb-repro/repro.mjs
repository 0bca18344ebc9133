// Reproduces the FerretDB 1.x wedge seen under Winnow's MongoDB adapter, with the official `mongodb`
// driver only (no Winnow code). See README.md next to this file.
//
//   MONGODB_URL=mongodb://127.0.0.1:27032/ node tools/ferretdb-repro/repro.mjs
//
// Knobs (env):
//   MONGODB_URL      server to test (required)
//   SCENARIO         'minimal' (default): one bulkWrite of MATCHED replaceOne/updateOne ops whose filters
//                    match existing documents, as one `update` command;
//                    'winnow': Winnow's journal-mode batch pattern (no transactions: batches one at a time,
//                    journal insertOne, $in reads, bulkWrite replaceOne upserts of events and messages,
//                    counter updateOne pairs, journal deleteOne) with concurrent readers, deliveries first
//                    and a share of batches resent whole (the collector's retry after a deadline).
//   MATCHED          minimal: how many ops match existing documents (default 120; the wedge needs 50 on
//                    the PostgreSQL backend, 100 on SQLite: the sizes of their connection pools)
//   OP               minimal: 'replaceOne' (default) or 'updateOne' ($set)
//   BATCH_START      winnow: events in the first batches (default 8); doubles every 3 batches, as the
//                    collector's backlog (and so its batches) grows while FerretDB slows down
//   BATCH            winnow: most events per batch (default 128; Winnow's collector sends up to 500)
//   READERS          winnow: concurrent reader loops (default 2)
//   RESEND           winnow: share of event batches sent again whole (default 0.2)
//   DURATION_S       winnow: how long to run (default 120)
//   CHUNK            split every bulkWrite into commands of at most CHUNK ops (default 0: one command,
//                    as the driver does). CHUNK=16 is the workaround.
//   PING_TIMEOUT_S   a ping not answered within this is a wedge (default 10)
//   OP_TIMEOUT_S     a single write command taking longer than this is reported as stuck (default 30)
//   DB               database name (default repro_<time>)
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';

const require = createRequire(import.meta.url);
// The repository's driver (node_modules at the repository root).
const { MongoClient } = require('mongodb');

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const url = env('MONGODB_URL');
if (!url) {
  console.error('set MONGODB_URL, e.g. MONGODB_URL=mongodb://127.0.0.1:27032/');
  process.exit(2);
}
const SCENARIO = env('SCENARIO', 'minimal');
const MATCHED = Number(env('MATCHED', 120));
const OP = env('OP', 'replaceOne');
const BATCH = Number(env('BATCH', 128));
const BATCH_START = Number(env('BATCH_START', 8));
const READERS = Number(env('READERS', 2));
const RESEND = Number(env('RESEND', 0.2));
const DURATION_S = Number(env('DURATION_S', 120));
const CHUNK = Number(env('CHUNK', 0));
const PING_TIMEOUT_S = Number(env('PING_TIMEOUT_S', 10));
const OP_TIMEOUT_S = Number(env('OP_TIMEOUT_S', 30));
const DB = env('DB', `repro_${Date.now()}`);

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`, ...a);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`${what}: no answer within ${ms / 1000} s`)), ms).unref())]);

// Same options as Winnow's adapter (libs/storage/src/mongodb/mongo-event-store.ts): no maxTimeMS, no
// socketTimeoutMS, no sessions or transactions used explicitly (FerretDB reports no replica set).
const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, retryWrites: true });

/**
 * On a fresh client of its own (so a stuck pooled connection cannot hide an answer): `ping` (on admin, as
 * Winnow's health check does) and a one-document `find` in the test database. FerretDB's SQLite backend
 * has one connection pool per database, its PostgreSQL backend one for all.
 */
/** An existing collection of the test database (FerretDB answers a find on a missing one without its backend). */
let probeColl = 'docs';
async function probe() {
  const c = new MongoClient(url, { serverSelectionTimeoutMS: PING_TIMEOUT_S * 1000, maxPoolSize: 2 });
  const one = async (what, fn) => {
    const start = Date.now();
    try {
      await withTimeout(fn(), PING_TIMEOUT_S * 1000, what);
      return { ok: true, ms: Date.now() - start };
    } catch (err) {
      return { ok: false, ms: Date.now() - start, err: err.message };
    }
  };
  try {
    const [ping, find] = await Promise.all([
      one('ping', () => c.db('admin').command({ ping: 1 })),
      one(`find in ${DB}.${probeColl}`, () => c.db(DB).collection(probeColl).findOne({})),
    ]);
    return { ok: ping.ok && find.ok, ping, find, err: [ping.err, find.err].filter(Boolean).join('; ') };
  } finally {
    void c.close(true).catch(() => undefined);
  }
}

/** bulkWrite as Winnow does it (one command), or in commands of at most CHUNK ops. */
async function bulk(coll, ops, options) {
  if (ops.length === 0) return;
  if (!CHUNK || ops.length <= CHUNK) {
    await withTimeout(coll.bulkWrite(ops, options), OP_TIMEOUT_S * 1000, `${coll.collectionName}.bulkWrite(${ops.length} ops)`);
    return;
  }
  for (let i = 0; i < ops.length; i += CHUNK) {
    const part = ops.slice(i, i + CHUNK);
    await withTimeout(coll.bulkWrite(part, options), OP_TIMEOUT_S * 1000, `${coll.collectionName}.bulkWrite(${part.length} ops)`);
  }
}

let reported;
let verdict = 'WEDGED';
async function wedgeReport(reason) {
  log(`STUCK: ${reason}`);
  if (reported !== undefined) return reported;
  const p = await probe();
  if (p.ok) {
    log(`ping and find still answered (${p.ping.ms} ms, ${p.find.ms} ms): not wedged, but that command never came back`);
    verdict = 'STUCK (the server answers, that command never did)';
    reported = true;
    return true;
  }
  log(`WEDGED: ${p.err}`);
  log(p.ping.ok
    ? `ping is answered (${p.ping.ms} ms) but every command on database ${DB} hangs, also on new connections`
    : 'FerretDB answers nothing any more, not even ping on a new connection');
  reported = true;
  log('Goroutine dump: curl -s "http://<debug-addr>/debug/pprof/goroutine?debug=1" | grep -B2 -A12 -E "Acquire|connectionOpener|conn\\("');
  return true;
}

async function minimal(db) {
  const coll = db.collection('docs');
  const docs = Array.from({ length: MATCHED }, (_, i) => ({ _id: `doc:${i}`, n: i, v: 0 }));
  log(`insertMany ${docs.length} documents into ${DB}.docs`);
  await coll.insertMany(docs);
  log(`ping before: ${JSON.stringify(await probe())}`);
  const ops = docs.map((d) =>
    OP === 'updateOne'
      ? { updateOne: { filter: { _id: d._id }, update: { $set: { v: 1 } }, upsert: true } }
      : { replaceOne: { filter: { _id: d._id }, replacement: { ...d, v: 1 }, upsert: true } },
  );
  log(`bulkWrite ${ops.length} ${OP} ops, upsert, ordered, every filter matching one existing document (${CHUNK ? `chunks of ${CHUNK}` : 'one update command'})`);
  const start = Date.now();
  try {
    await bulk(coll, ops, { ordered: true });
    log(`bulkWrite done in ${Date.now() - start} ms`);
  } catch (err) {
    return wedgeReport(err.message);
  }
  const p = await probe();
  log(`ping after: ${JSON.stringify(p)}`);
  return !p.ok;
}

async function winnow(db) {
  const events = db.collection('events');
  const messages = db.collection('messages');
  const campaigns = db.collection('campaigns');
  const hours = db.collection('hours');
  const journal = db.collection('batch_journal');
  const fences = db.collection('history_fences');
  // Winnow creates these; FerretDB 1.x uses none of them for queries.
  await events.createIndex({ tenant: 1, atMs: -1, _id: -1 }, { name: 'tenant_time' });
  await events.createIndex({ tenant: 1, message: 1, atMs: 1 }, { name: 'tenant_message_time' });
  await hours.createIndex({ tenant: 1, campaign: 1, hourStartMs: 1 }, { name: 'tenant_campaign_hour' });

  probeColl = 'events';
  const tenant = 't1';
  const campaign = 'c1';
  let stop = false;
  let wedged = false;
  let nextMsg = 0;
  let nextEvent = 0;
  let seq = 0;
  const stats = { batches: 0, resent: 0, events: 0, deliveries: 0, reads: 0, maxBatchMs: 0 };
  const sent = [];

  const counterOps = (key, init, inc, batch) => [
    { updateOne: { filter: { _id: key }, update: { $setOnInsert: init }, upsert: true } },
    { updateOne: { filter: { _id: key, batch: { $ne: batch } }, update: { $inc: inc, $set: { batch } } } },
  ];

  // One batch, as MongoEventStore.write() + apply() with `batch` set (no transactions: journal mode).
  async function writeBatch(ws) {
    const batch = randomUUID();
    await journal.insertOne({ _id: 'pending', batch, ...ws });
    await bulk(events, ws.events.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })), { ordered: true });
    await bulk(messages, ws.messages.map((m) => ({ replaceOne: { filter: { _id: m._id }, replacement: m, upsert: true } })), { ordered: false });
    const hourStartMs = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    await bulk(campaigns, counterOps(`${tenant}:${campaign}`, { tenant, campaign }, { delivered: ws.delivered, 'opens.0': ws.events.length }, batch), { ordered: true });
    await bulk(hours, counterOps(`${tenant}:${campaign}:${hourStartMs}`, { tenant, campaign, hourStartMs }, { 'opens.0': ws.events.length }, batch), { ordered: true });
    await journal.deleteOne({ _id: 'pending', batch });
  }

  async function deliveries(n) {
    const ids = Array.from({ length: n }, () => `${tenant}:m${nextMsg++}`);
    await messages.find({ _id: { $in: ids } }).toArray();
    const msgs = ids.map((id) => ({ _id: id, tenant, message: id.slice(3), campaign, deliveredAtMs: Date.now(), links: ['https://example.com/a'], lastAtMs: Date.now() }));
    await writeBatch({ events: [], messages: msgs, delivered: n });
    stats.deliveries += n;
  }

  async function recordEvents(evs) {
    // fences, then the $in reads, then the write (MongoEventStore.recordEvents).
    const found = (await fences.findOne({ _id: tenant }))?.seq ?? 0;
    await fences.updateOne({ _id: tenant }, { $set: { seq: found + 1 } }, { upsert: true });
    await events.find({ _id: { $in: evs.map((e) => e._id) } }, { projection: { data: 1, tenant: 1 } }).toArray();
    const msgIds = [...new Set(evs.map((e) => `${tenant}:${e.message}`))];
    const existing = await messages.find({ _id: { $in: msgIds } }).toArray();
    const msgs = existing.map((m) => ({ ...m, lastAtMs: Date.now(), opened: true }));
    await writeBatch({ events: evs, messages: msgs, delivered: 0 });
  }

  async function writer() {
    while (!stop) {
      const start = Date.now();
      const resend = sent.length > 0 && Math.random() < RESEND;
      let evs;
      if (resend) {
        evs = sent[Math.floor(Math.random() * sent.length)];
        stats.resent++;
      } else {
        // Deliveries first (the messages exist when their events come), then one open per message.
        const size = Math.min(BATCH, BATCH_START * 2 ** Math.floor(stats.batches / 3));
        await deliveries(size);
        evs = Array.from({ length: size }, (_, i) => {
          const message = `m${nextMsg - size + i}`;
          const at = Date.now();
          return { _id: `${tenant}:e${nextEvent++}`, tenant, campaign, message, atMs: at, at: new Date(at), kind: 1, method: 'pixel', actor: 1, source: 0, revision: 1, data: { event: { id: `e${nextEvent}`, tenant, message, campaign, atUnixMs: String(at) }, verdict: { actor: 1 } } };
        });
        sent.push(evs);
        if (sent.length > 20) sent.shift();
      }
      await recordEvents(evs);
      stats.events += evs.length;
      stats.batches++;
      const ms = Date.now() - start;
      stats.maxBatchMs = Math.max(stats.maxBatchMs, ms);
      log(`batch ${stats.batches}${resend ? ' (resent)' : ''}: ${evs.length} events, ${ms} ms; stored ${await events.estimatedDocumentCount()} events`);
    }
  }

  async function reader(i) {
    while (!stop) {
      switch (seq++ % 4) {
        case 0:
          await campaigns.findOne({ _id: `${tenant}:${campaign}` });
          break;
        case 1:
          await events.find({ tenant }).sort({ atMs: -1, _id: -1 }).limit(50).toArray();
          break;
        case 2:
          await events.countDocuments({ tenant });
          break;
        default:
          await hours.find({ tenant, campaign, hourStartMs: { $gte: 0 } }).sort({ hourStartMs: 1 }).toArray();
      }
      stats.reads++;
      await sleep(50 + i);
    }
  }

  const loops = [writer(), ...Array.from({ length: READERS }, (_, i) => reader(i))];
  const deadline = Date.now() + DURATION_S * 1000;
  const watchdog = (async () => {
    while (!stop && Date.now() < deadline) {
      await sleep(5000);
      if (stop) break;
      const p = await probe();
      if (!p.ok) {
        wedged = await wedgeReport(`watchdog ping failed after ${stats.batches} batches`);
        if (wedged) stop = true;
      }
    }
    stop = true;
  })();
  try {
    await Promise.race([Promise.all(loops), watchdog]);
  } catch (err) {
    wedged = await wedgeReport(err.message);
  }
  stop = true;
  log(`summary: ${JSON.stringify(stats)}`);
  return wedged;
}

log(`MongoDB driver ${require('mongodb/package.json').version}; ${url}; scenario ${SCENARIO}; database ${DB}; CHUNK=${CHUNK || 'off'}`);
await client.connect();
const hello = await client.db('admin').command({ hello: 1 });
log(`server: ${hello.setName ? `replica set ${hello.setName}` : 'standalone (no transactions)'}, maxWriteBatchSize ${hello.maxWriteBatchSize}`);
const db = client.db(DB);
const wedged = SCENARIO === 'winnow' ? await winnow(db) : await minimal(db);
if (!wedged) {
  log('server still answers; dropping the test database');
  await db.dropDatabase().catch(() => undefined);
  await client.close();
}
log(wedged ? `RESULT: ${verdict}` : 'RESULT: not wedged');
// A wedged server never answers the stuck command: do not wait for it.
process.exit(wedged ? 1 : 0);
