// npm run -s bench:collector
//
// Drives the collector (durable capture on: every answer waits for its event to be fsynced in
// the spool) and a bare node:http server returning the same GIF with the same load generator
// (autocannon, in this process) in the same run, one after the other, each server in a process
// of its own. Downstream of the collector is a real gRPC server (in this process) that serves
// the tracking domain and acknowledges Ingest batches at once, so the figure is the collector's
// own cost. Prints requests per second, p50/p99 latency, their ratio, and checks that every
// answered request became an event acknowledged downstream.
//
//   BENCH_SECONDS (default 10)  BENCH_CONNECTIONS (default 64)  BENCH_CAPTURE_SYNC (default true)
//   BENCH_NODE_ARGS: extra node flags for both servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { create, toBinary } from '@bufbuild/protobuf';
import { addService, bindServer, methodPath, newServer, shutdownServer } from '@winnow/grpc';
import { ClassifierService, ConfigService, IngestResponseSchema } from '@winnow/proto';
import { Keyring, pixelPath } from '@winnow/tokens';

const here = fileURLToPath(new URL('.', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const captureSync = process.env.BENCH_CAPTURE_SYNC ?? 'true';
const HOST = 'bench.localhost';
const TENANT = 'bench';

// Downstream: tracking domain + an Ingest that acknowledges at once.
const secret = randomBytes(32);
let ingested = 0;
const sink = newServer();
addService(sink, ConfigService, {
  listTrackingDomains: async () => ({ version: '1', domains: [{ hostname: HOST, tenant: TENANT, keys: [{ id: 'b1', secret, sealing: true }] }] }),
  putTrackingDomain: async () => ({}),
  deleteTrackingDomain: async () => ({}),
  putSuppressionPolicy: async () => ({}),
  getSuppressionPolicy: async () => ({}),
  createApiKey: async () => ({}),
  revokeApiKey: async () => ({}),
  listApiKeys: async () => ({}),
  prepareEmail: async () => ({}),
});
// Ingest is served raw: the events are counted by walking the request's top-level fields, not
// decoded. The sink shares the load generator's process and cores; decoding every event with
// protobuf-es there would slow the load generator and understate the collector.
sink.addService(
  {
    ingest: {
      path: methodPath(ClassifierService.method.ingest),
      requestStream: true,
      responseStream: false,
      requestSerialize: (b) => b,
      requestDeserialize: (b) => b,
      responseSerialize: (m) => Buffer.from(toBinary(IngestResponseSchema, m)),
      responseDeserialize: (b) => b,
    },
  },
  {
    ingest: (call, callback) => {
      let n = 0;
      call.on('data', (buf) => (n += countRepeatedField1(buf)));
      call.on('end', () => {
        ingested += n;
        callback(null, create(IngestResponseSchema, { received: String(n), stored: String(n) }));
      });
    },
  },
);

/** How many times field 1 (length-delimited) occurs at the top level of a protobuf message. */
function countRepeatedField1(buf) {
  let pos = 0;
  let n = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    if ((tag & 7) !== 2) throw new Error(`unexpected wire type in IngestRequest: ${tag & 7}`);
    const len = varint();
    if (tag >>> 3 === 1) n++;
    pos += len;
  }
  return n;
}
const sinkPort = await bindServer(sink, '127.0.0.1:0');

function startChild(script, env) {
  const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), join(here, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve({ child, ports: JSON.parse(line) }));
  });
}

async function stop(child) {
  child.removeAllListeners('exit');
  const gone = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await gone;
}

const keyring = new Keyring([{ id: 'b1', secret }], 'b1');
const sentAt = String(Math.floor(Date.now() / 1000));
const requests = Array.from({ length: 1000 }, (_, i) => ({
  method: 'GET',
  path: pixelPath(keyring, { tenant: TENANT, campaign: 'bench', message: `m${i}`, sentAtUnixS: sentAt, links: 3 }),
  headers: {
    host: HOST,
    'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
    accept: 'image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5',
    'accept-language': 'en-US,en;q=0.9',
  },
}));

/**
 * CPU seconds a process has used, all its threads, user and system (Linux /proc; undefined
 * elsewhere). Throughput on this shared machine swings with whatever else runs; CPU per request
 * is the steadier figure for comparing the two servers.
 */
function cpuSeconds(pid) {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return undefined;
  const fields = readFileSync(path, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
}

async function drive(child, port, label) {
  const run = (duration) =>
    autocannon({ url: `http://127.0.0.1:${port}`, connections, duration, requests, pipelining: 1 });
  await run(2); // warm-up
  const cpuBefore = cpuSeconds(child.pid);
  const r = await run(seconds);
  const cpuAfter = cpuSeconds(child.pid);
  r.cpuUsPerRequest = cpuBefore === undefined ? undefined : ((cpuAfter - cpuBefore) * 1e6) / r.requests.total;
  const non2xx = r.non2xx + r.errors + r.timeouts;
  const cpu = r.cpuUsPerRequest === undefined ? '' : `   CPU ${r.cpuUsPerRequest.toFixed(0).padStart(3)} µs/request`;
  process.stdout.write(`${label.padEnd(28)} ${r.requests.average.toFixed(0).padStart(8)} req/s   p50 ${String(r.latency.p50).padStart(3)} ms   p99 ${String(r.latency.p99).padStart(3)} ms   errors ${non2xx}${cpu}\n`);
  return r;
}

process.stdout.write(`bench:collector: ${connections} connections, ${seconds} s per server (after a 2 s warm-up), autocannon on loopback, ${process.env.BENCH_LABEL ?? ''}\n`);
const bare = await startChild('bare-server.mjs', {});
const bareResult = await drive(bare.child, bare.ports.port, 'bare node:http GIF');
await stop(bare.child);

const spoolDir = mkdtempSync(join(tmpdir(), 'winnow-bench-spool-'));
const collector = await startChild('collector-server.mjs', {
  WINNOW_COLLECTOR_PORT: '0',
  WINNOW_COLLECTOR_OPS_PORT: '0',
  WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${sinkPort}`,
  WINNOW_STATS_ADDR: `127.0.0.1:${sinkPort}`,
  WINNOW_SPOOL_DIR: spoolDir,
  WINNOW_CAPTURE_SYNC: captureSync,
  WINNOW_LOG_LEVEL: 'error',
  WINNOW_SERVICE_KEY: randomBytes(32).toString('base64url'),
});
const collectorResult = await drive(collector.child, collector.ports.http, `collector (capture sync=${captureSync})`);
// Let the last batches reach downstream, then stop (drains the rest).
await new Promise((ok) => setTimeout(ok, 1000));
await stop(collector.child);
await shutdownServer(sink, 1000);
rmSync(spoolDir, { recursive: true, force: true });

const ratio = collectorResult.requests.average / bareResult.requests.average;
process.stdout.write(`throughput ratio collector/bare: ${ratio.toFixed(2)} (goal >= 0.80)\n`);
process.stdout.write(`collector p99: ${collectorResult.latency.p99} ms (goal < 10 ms)\n`);
if (collectorResult.cpuUsPerRequest !== undefined) {
  process.stdout.write(`server CPU per request (all threads) collector/bare: ${(collectorResult.cpuUsPerRequest / bareResult.cpuUsPerRequest).toFixed(2)}\n`);
}
process.stdout.write(`events acknowledged downstream: ${ingested} of ${collectorResult['2xx']} answered in the measured run + warm-up (${ingested >= collectorResult['2xx'] ? 'none lost' : 'MISSING EVENTS'})\n`);
