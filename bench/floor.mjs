// npm run -s bench:floor
//
// The floor of the pipeline's shape: what three Node.js processes cost when they do only what the
// shape itself demands and none of Winnow's own work. Under the same wrk load as bench:pipeline
// (-t1 -c64 on the same kind of token paths), and beside a bare node:http server in the same run:
//
//   front   node:http; each request's URL and headers appended to the collector's own durable spool
//           (O_DSYNC group commit, the same Spool class), answered with the GIF once on disk, and
//           sent on in batches of up to 1,000 with two batches in flight (gRPC, raw bytes);
//   middle  receives a batch and forwards the same bytes (gRPC) to store, answering when it answers;
//   store   splits the batch and puts one LMDB value per event in one transaction (committed with
//           fsync, as the embedded store does).
//
// No token is opened, nothing is decoded into objects, classified, counted or indexed. The ratio it
// prints (stored events/s over the bare server's requests/s) is therefore an upper bound for any
// three-process pipeline with durable capture on this machine; bench:pipeline's ratio is what
// Winnow reaches. Prints the same figures as bench:pipeline, CPU per event for each process.
//
//   BENCH_SECONDS (20)  BENCH_CONNECTIONS (64)  BENCH_MESSAGES (20,000)
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { open } from 'lmdb';
import { bindServer, newServer } from '@winnow/grpc';
import { prepareEmail } from '@winnow/mail';
import { Keyring } from '@winnow/tokens';
import { idleShare, machineCpu, microsPer, parseWrk, procCpuSeconds, wrkScript } from './wrk.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const { Spool } = await import(join(here, '..', 'apps', 'collector', 'dist', 'spool', 'spool.js'));
const { PIXEL_GIF, PIXEL_HEADERS } = await import(join(here, '..', 'apps', 'collector', 'dist', 'pixel.js'));
const FORWARD = '/floor.Hop/Forward';
const COUNT = '/floor.Hop/Count';
const raw = { requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b };
const channelOptions = { 'grpc.max_send_message_length': 16 * 1024 * 1024, 'grpc.max_receive_message_length': 16 * 1024 * 1024 };

/** A unary call with raw bytes both ways. */
function call(client, path, bytes) {
  return new Promise((ok, fail) => client.makeUnaryRequest(path, raw.requestSerialize, raw.responseDeserialize, bytes, (err, res) => (err ? fail(err) : ok(res))));
}

/** A batch as protobuf would frame `repeated bytes events = 1`: tag, length, bytes, for each. */
function frameBatch(items) {
  let size = 0;
  for (const b of items) size += 1 + varintSize(b.length) + b.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const b of items) {
    out[pos++] = 0x0a;
    let n = b.length;
    while (n > 0x7f) {
      out[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[pos++] = n;
    pos += b.copy(out, pos);
  }
  return out;
}
const varintSize = (n) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

function* records(buf) {
  let pos = 0;
  while (pos < buf.length) {
    pos++; // tag 0x0a
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      len |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    yield buf.subarray(pos, pos + len);
    pos += len;
  }
}

const ready = (port) => process.stdout.write(`${JSON.stringify({ port })}\n`);

async function front(dir, next) {
  const spool = new Spool({ dir, segmentBytes: 64 * 1024 * 1024, maxBytes: 1024 ** 3, sync: true });
  spool.open();
  const client = new grpc.Client(next, grpc.credentials.createInsecure(), channelOptions);
  const queue = [];
  const inFlight = [];
  let accepted = 0;
  // The collector's sending policy: a full batch goes when there is room for it (two in flight); a
  // part batch only when nothing is on its way, after waiting 50 ms for more (WINNOW_BATCH_MAX_DELAY_MS).
  let waiting;
  const send = (items) => {
    const batch = { lastSeq: items[items.length - 1].seq, done: false };
    inFlight.push(batch);
    const attempt = () =>
      call(client, FORWARD, frameBatch(items.map((i) => i.payload))).then(
        () => {
          batch.done = true;
          // Acknowledged in spool order, as the collector does.
          while (inFlight.length > 0 && inFlight[0].done) spool.ack(inFlight.shift().lastSeq);
          pump();
        },
        () => setTimeout(attempt, 100),
      );
    attempt();
  };
  const pump = () => {
    while (inFlight.length < 2 && queue.length >= 1000) send(queue.splice(0, 1000));
    if (inFlight.length === 0 && queue.length > 0 && !waiting) {
      waiting = setTimeout(() => {
        waiting = undefined;
        if (inFlight.length === 0 && queue.length > 0) send(queue.splice(0, 1000));
        pump();
      }, 50);
    }
  };
  const server = createServer((req, res) => {
    const h = req.headers;
    const payload = Buffer.from(`${Date.now()}\n${req.socket.remoteAddress}\n${req.method}\n${h.host}\n${req.url}\n${h['user-agent'] ?? ''}\n${h['accept-language'] ?? ''}`);
    const seq = spool.appendThen(payload, (err) => {
      if (err) return void res.writeHead(500).end();
      accepted++;
      res.writeHead(200, PIXEL_HEADERS).end(PIXEL_GIF);
      queue.push({ seq, payload });
      pump();
    });
    if (seq === 0) res.writeHead(503).end();
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
  const ops = newServer();
  ops.register(COUNT, (c, cb) => cb(null, Buffer.from(String(accepted))), raw.responseSerialize, raw.requestDeserialize, 'unary');
  process.stderr.write(`${JSON.stringify({ ops: await bindServer(ops, '127.0.0.1:0') })}\n`);
}

async function middle(next) {
  const client = new grpc.Client(next, grpc.credentials.createInsecure(), channelOptions);
  const server = newServer();
  server.register(FORWARD, (c, cb) => call(client, FORWARD, c.request).then((r) => cb(null, r), (e) => cb(e)), raw.responseSerialize, raw.requestDeserialize, 'unary');
  ready(await bindServer(server, '127.0.0.1:0'));
}

async function store(dir) {
  const root = open({ path: dir, maxDbs: 4, mapSize: 2 * 1024 ** 3 });
  const events = root.openDB({ name: 'events', encoding: 'binary' });
  let stored = 0;
  let batches = 0;
  let id = 0;
  const server = newServer();
  server.register(
    FORWARD,
    (c, cb) =>
      root
        .childTransaction(() => {
          let n = 0;
          for (const r of records(c.request)) {
            events.putSync(['t', ++id], r);
            n++;
          }
          return n;
        })
        .then((n) => {
          stored += n;
          batches++;
          cb(null, Buffer.from(String(n)));
        }, cb),
    raw.responseSerialize,
    raw.requestDeserialize,
    'unary',
  );
  server.register(COUNT, (c, cb) => cb(null, Buffer.from(`${stored} ${batches}`)), raw.responseSerialize, raw.requestDeserialize, 'unary');
  ready(await bindServer(server, '127.0.0.1:0'));
}

const role = process.argv[2];
if (role === 'front') await front(process.argv[3], process.argv[4]);
else if (role === 'middle') await middle(process.argv[3]);
else if (role === 'store') await store(process.argv[3]);
else await main();

function start(args, stderrLine = false) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', stderrLine ? 'pipe' : 'inherit'] });
  const port = new Promise((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`${args[0]} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (l) => ok(JSON.parse(l).port));
  });
  const ops = stderrLine ? new Promise((ok) => createInterface({ input: child.stderr }).once('line', (l) => ok(JSON.parse(l).ops))) : undefined;
  return { child, port, ops };
}

async function main() {
  const seconds = Number(process.env.BENCH_SECONDS ?? 20);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
  const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
  const HOST = 'floor.localhost';
  const run = promisify(execFile);
  const dir = mkdtempSync(join(tmpdir(), 'winnow-bench-floor-'));
  const children = [];
  try {
    // The same kind of paths as bench:pipeline: sealed tokens from prepareEmail.
    const keyring = new Keyring([{ id: 'f1', secret: randomBytes(32) }], 'f1');
    const paths = [];
    const html = '<p>Your appointment is on Monday. <a href="https://clinic.example/confirm">Confirm</a> or <a href="https://clinic.example/reschedule">reschedule</a>.</p>';
    for (let i = 0; i < messages; i++) {
      const p = prepareEmail(html, { keyring, baseUrl: `http://${HOST}`, tenant: 'floor', campaign: 'floor', message: `m${i}`, sentAtS: Math.floor(Date.now() / 1000) - 3600 });
      paths.push(new URL(p.pixelUrl).pathname, ...p.links.filter((l) => l.role !== 2).map((l) => new URL(l.url).pathname));
    }
    for (let i = paths.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [paths[i], paths[j]] = [paths[j], paths[i]];
    }
    const pathsFile = join(dir, 'paths.txt');
    writeFileSync(pathsFile, `${paths.join('\n')}\n`);
    const lua = wrkScript(dir, pathsFile, HOST);
    const wrk = async (port) => parseWrk((await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, `http://127.0.0.1:${port}/`])).stdout);

    async function bareRun() {
      const bare = spawn(process.execPath, [join(here, 'bare-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise((ok) => createInterface({ input: bare.stdout }).once('line', (l) => ok(JSON.parse(l).port)));
      const out = await wrk(port);
      bare.kill('SIGTERM');
      return out.rps;
    }
    const bareBefore = await bareRun();

    const s = start(['store', join(dir, 'store')]);
    children.push(s.child);
    const m = start(['middle', `127.0.0.1:${await s.port}`]);
    children.push(m.child);
    const f = start(['front', join(dir, 'spool'), `127.0.0.1:${await m.port}`], true);
    children.push(f.child);
    const frontPort = await f.port;
    const frontOps = new grpc.Client(`127.0.0.1:${await f.ops}`, grpc.credentials.createInsecure());
    const storeOps = new grpc.Client(`127.0.0.1:${await s.port}`, grpc.credentials.createInsecure());
    // Events (and, from store, batches) so far.
    const counts = async (c) => String(await call(c, COUNT, Buffer.alloc(0))).split(' ').map(Number);
    const count = async (c) => (await counts(c))[0];

    const pids = { front: f.child.pid, middle: m.child.pid, store: s.child.pid };
    const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procCpuSeconds(pid)]));
    const cpu0 = cpu();
    const machine0 = machineCpu();
    const started = Date.now();
    const out = await wrk(frontPort);
    const loadEnd = Date.now();
    const machineIdleUnderLoad = idleShare(machine0, machineCpu());
    const answered = await count(frontOps);
    let n = 0;
    const limit = Date.now() + 120_000;
    while ((n = await count(storeOps)) < answered && Date.now() < limit) await new Promise((ok) => setTimeout(ok, 50));
    const drained = Date.now();
    const cpu1 = cpu();
    const batches = (await counts(storeOps))[1];
    frontOps.close();
    storeOps.close();
    const split = Object.fromEntries(Object.keys(pids).map((k) => [k, microsPer(cpu0[k], cpu1[k], n)]));
    const bareAfter = await bareRun();
    const bareRps = (bareBefore + bareAfter) / 2;
    const storedPerSec = n / ((drained - started) / 1000);
    const result = {
      seconds,
      connections,
      answered,
      stored: n,
      answeredEqualsStored: answered === n,
      answeredPerSec: Math.round(out.rps),
      storedPerSec: Math.round(storedPerSec),
      drainSeconds: Number(((drained - loadEnd) / 1000).toFixed(1)),
      p50ms: out.p50,
      p99ms: out.p99,
      cpuMicrosecondsPerStoredEvent: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, v.user + v.system])),
      cpuUserSystemMicroseconds: split,
      meanEventsPerBatch: Math.round(n / Math.max(1, batches)),
      machineIdleUnderLoad,
      bareRequestsPerSec: Math.round(bareRps),
      bareBeforeAndAfter: [Math.round(bareBefore), Math.round(bareAfter)],
      floorRatio: Number((storedPerSec / bareRps).toFixed(3)),
      goal: 0.3,
    };
    console.log(JSON.stringify(result, null, 2));
    if (!result.answeredEqualsStored) process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
