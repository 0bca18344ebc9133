// npm run -s bench:pipeline
//
// The whole stack as users deploy it: collector, classifier and stats in separate processes (the
// launcher `npm start` uses), talking gRPC, the embedded store, durable capture on. Prepares
// BENCH_MESSAGES (default 40,000) messages with prepareEmail on the demo tenant's tracking domain,
// drives the collector with wrk (-t1 -c64, BENCH_SECONDS, default 20) on their pixel and link URLs
// (each URL used once until all are, then again), waits until stats has stored every answered
// request, and prints: answered requests/s, stored events/s over load plus drain, drain time,
// p50/p99 latency, CPU microseconds per stored event for each service (from each service's own
// process CPU metrics), and in the same run a bare node:http pixel server's requests/s under the
// same wrk (before and after the stack; the ratio uses their mean), and how much of the machine
// stayed idle under load (from /proc/stat: near 0 means CPU-bound). Needs wrk (Debian package wrk).
//
//   BENCH_SECONDS  BENCH_CONNECTIONS (64)  BENCH_MESSAGES  BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
//   BENCH_BATCH_NICE: how far the launcher lowers the classifier's and stats' priority (default: its BATCH_SERVICE_NICE; 0 for none)
//   BENCH_MONGODB_URL: run the stack on the MongoDB adapter (WINNOW_STORE=mongodb) against that server
//   BENCH_WARMUP_SECONDS (default 10): before the measured runs, drive the stack this long on messages of
//     a campaign of their own and wait until they are stored, and each bare server as long (its result
//     discarded). Both then measure what a running deployment does rather than the first seconds of a
//     process, while V8 compiles its hot code (docs/architecture.md, "Session 20"). 0 measures cold.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bearer, closeClient, createClient } from '@winnow/grpc';
import { prepareEmail } from '@winnow/mail';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { keyringOf } from '@winnow/tokens';
import { idleShare, machineCpu, microsPer, parseWrk, procCpuSeconds, wrkScript } from './wrk.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const { BATCH_SERVICE_NICE, freePorts, launchStack } = await import(join(here, '..', 'apps', 'cli', 'dist', 'launcher.js'));
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
// 40,000 messages give 120,000 URLs (a pixel and two links each): more than a 20 s run answers here, so
// every request carries a URL not used before (the "fresh" URLs); `urlsReused` says if not.
const messages = Number(process.env.BENCH_MESSAGES ?? 40_000);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const HOST = 'demo-clinic.localhost';
const CAMPAIGN = `bench-${Date.now()}`;
const run = promisify(execFile);

const dir = mkdtempSync(join(tmpdir(), 'winnow-bench-pipeline-'));
const serviceKey = randomBytes(32).toString('base64url');
const ports = await freePorts();
const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [];
// BENCH_MONGODB_URL: the same run on the MongoDB adapter (a fresh database per run).
const mongoUrl = () => {
  const u = new URL(process.env.BENCH_MONGODB_URL);
  u.pathname = `/winnow_bench_${Date.now()}`;
  return u.toString();
};
const store = process.env.BENCH_MONGODB_URL ? { WINNOW_STORE: 'mongodb', MONGODB_URL: mongoUrl() } : {};
const onLog = process.env.BENCH_LOG ? (name, line) => process.stderr.write(`${name}: ${line}\n`) : undefined;
// BENCH_BATCH_NICE: the launcher's nice for the classifier and stats (its default when unset; 0 for none).
const batchNice = process.env.BENCH_BATCH_NICE === undefined ? undefined : Number(process.env.BENCH_BATCH_NICE);
const stack = await launchStack({ ports, dataDir: dir, nodeArgs, onLog, batchNice, env: { WINNOW_SERVICE_KEY: serviceKey, WINNOW_LOG_LEVEL: 'warn', ...store } });
// Stopped from outside (Ctrl-C, timeout): stop the services too, or they outlive the run.
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stack.stop().then(() => process.exit(130)));
const auth = bearer(serviceKey);
const statsAddr = `127.0.0.1:${ports.statsGrpc}`;
const config = createClient(ConfigService, statsAddr, { metadata: auth });
const stats = createClient(StatsService, statsAddr, { metadata: auth, defaultDeadlineMs: 30_000 });

function get(port, path) {
  return new Promise((ok, fail) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => ok(body));
    }).on('error', fail).end();
  });
}

async function cpuSeconds(port) {
  const text = await get(port, '/metrics');
  const read = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  // Batches received: the Ingest calls answered (the classifier's and stats' ops pages).
  const ingest = (part) => [...text.matchAll(new RegExp(`^winnow_grpc_server_duration_seconds_${part}\\{[^}]*method="[^"]*Ingest[^"]*"[^}]*\\} (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  return { user: read('winnow_process_cpu_user_seconds_total'), system: read('winnow_process_cpu_system_seconds_total'), calls: ingest('count'), callSeconds: ingest('sum') };
}
const opsPorts = { collector: ports.collectorOps, classifier: ports.classifierHttp, stats: ports.statsHttp };
const cpuAll = async () => Object.fromEntries(await Promise.all(Object.entries(opsPorts).map(async ([k, p]) => [k, await cpuSeconds(p)])));

async function accepted() {
  const m = /^winnow_collector_events_accepted_total(?:\{[^}]*\})? (\S+)$/m.exec(await get(ports.collectorOps, '/metrics'));
  return m ? Number(m[1]) : NaN;
}

async function stored(campaign = CAMPAIGN) {
  const { stats: s } = await stats.getCampaignStats({ tenant: 'demo-clinic', campaign, policyMode: PolicyMode.INCLUDE_AUTOMATED });
  return Number(s.all.opens) + Number(s.all.clicks);
}

/** Waits (up to 10 minutes) until stats has stored `wanted` events of `campaign`; resolves with what it has. */
async function drained(campaign, wanted) {
  let n = 0;
  const limit = Date.now() + 600_000;
  while ((n = await stored(campaign)) < wanted && Date.now() < limit) await new Promise((ok) => setTimeout(ok, 100));
  return n;
}

try {
  // The demo tenant's tracking domain and keys, and the messages.
  const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === HOST);
  const keyring = keyringOf(domain);
  const html = '<p>Your appointment is on Monday. <a href="https://clinic.example/confirm">Confirm</a> or <a href="https://clinic.example/reschedule">reschedule</a>.</p>';
  const t0 = Date.now();
  // The pixel and link paths of `count` messages of `campaign`, in a wrk script of their own.
  const prepare = (campaign, count, name) => {
    // Message ids differ between the two campaigns: a message belongs to one campaign.
    const paths = [];
    for (let i = 0; i < count; i++) {
      const p = prepareEmail(html, { keyring, baseUrl: `http://${HOST}`, tenant: 'demo-clinic', campaign, message: `${name}-${i}`, sentAtS: Math.floor(Date.now() / 1000) - 3600 });
      paths.push(new URL(p.pixelUrl).pathname, ...p.links.filter((l) => l.role !== 2).map((l) => new URL(l.url).pathname));
    }
    // Interleave so neighbouring requests belong to different messages.
    for (let i = paths.length - 1; i > 0; i--) {
      const j = Math.floor(((i * 2654435761) >>> 0) % (i + 1));
      [paths[i], paths[j]] = [paths[j], paths[i]];
    }
    const pathsFile = join(dir, `${name}.txt`);
    writeFileSync(pathsFile, `${paths.join('\n')}\n`);
    return { paths, lua: wrkScript(dir, pathsFile, HOST, `${name}.lua`) };
  };
  const { paths, lua } = prepare(CAMPAIGN, messages, 'paths');
  const WARMUP_CAMPAIGN = `${CAMPAIGN}-warmup`;
  const warmup = warmupSeconds > 0 ? prepare(WARMUP_CAMPAIGN, Math.ceil(warmupSeconds * 3000), 'warmup') : undefined;
  console.log(`prepared ${messages} messages (${paths.length} URLs) in ${Date.now() - t0} ms`);

  // Bare node:http under the same wrk, before and after the stack: this machine's speed drifts
  // from minute to minute, and the mean of the two is the fairer denominator.
  async function bareRun() {
    const bare = spawn(process.execPath, [join(here, 'bare-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const barePort = await new Promise((ok) => createInterface({ input: bare.stdout }).once('line', (l) => ok(JSON.parse(l).port)));
    if (warmupSeconds > 0) await run('wrk', ['-t1', `-c${connections}`, `-d${warmupSeconds}s`, '-s', lua, `http://127.0.0.1:${barePort}/`]);
    const cpu0 = procCpuSeconds(bare.pid);
    const out = parseWrk((await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, `http://127.0.0.1:${barePort}/`])).stdout);
    const cpu = microsPer(cpu0, procCpuSeconds(bare.pid), out.requests);
    bare.kill('SIGTERM');
    return { rps: out.rps, cpu };
  }
  const bareBefore = await bareRun();

  // The warm-up, when asked for: its own messages, all stored before the measured run starts.
  let warmedUp = 0;
  if (warmup) {
    await run('wrk', ['-t1', `-c${connections}`, `-d${warmupSeconds}s`, '-s', warmup.lua, `http://127.0.0.1:${ports.collectorHttp}/`]);
    warmedUp = await accepted();
    if ((await drained(WARMUP_CAMPAIGN, warmedUp)) !== warmedUp) throw new Error(`the warm-up's ${warmedUp} answered requests were not all stored`);
  }

  // The stack.
  const cpu0 = await cpuAll();
  const machine0 = machineCpu();
  const started = Date.now();
  const out = parseWrk((await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, `http://127.0.0.1:${ports.collectorHttp}/`])).stdout);
  const loadEnd = Date.now();
  // How much of the machine's two cores went unused under load: near 0 means CPU-bound.
  const machineIdleUnderLoad = idleShare(machine0, machineCpu());
  // What the collector answered (wrk stops counting with requests still in flight): every event
  // it accepted was answered, and each must be stored.
  const answered = (await accepted()) - warmedUp;
  const n = await drained(CAMPAIGN, answered);
  const drainedAt = Date.now();
  const cpu1 = await cpuAll();
  const total = (drainedAt - started) / 1000;
  const split = Object.fromEntries(Object.keys(cpu0).map((k) => [k, microsPer(cpu0[k], cpu1[k], n)]));
  const perEvent = Object.fromEntries(Object.entries(split).map(([k, v]) => [k, v.user + v.system]));
  // Mean events per Ingest call into the classifier and into stats (revisions and retries count in n only once).
  const meanBatch = Object.fromEntries(['classifier', 'stats'].map((k) => [k, Math.round(n / Math.max(1, cpu1[k].calls - cpu0[k].calls))]));
  // How long an Ingest call took from its arrival to its answer, on average: in stats that is reading,
  // classifying and the store's durable commit; in the classifier it includes the call to stats.
  const meanIngestMs = Object.fromEntries(['classifier', 'stats'].map((k) => [k, Math.round((1000 * (cpu1[k].callSeconds - cpu0[k].callSeconds)) / Math.max(1, cpu1[k].calls - cpu0[k].calls))]));
  const bareAfter = await bareRun();
  const bareRps = (bareBefore.rps + bareAfter.rps) / 2;
  const storedPerSec = n / total;
  const result = {
    seconds,
    connections,
    batchNice: batchNice ?? BATCH_SERVICE_NICE,
    warmupSeconds,
    warmupRequests: warmedUp,
    answered,
    wrkCounted: out.requests,
    urls: paths.length,
    urlsReused: Math.max(0, answered - paths.length),
    non2xx: out.non2xx,
    socketErrors: out.errors,
    stored: n,
    answeredEqualsStored: answered === n,
    answeredPerSec: Math.round(out.rps),
    storedPerSec: Math.round(storedPerSec),
    drainSeconds: Number(((drainedAt - loadEnd) / 1000).toFixed(1)),
    p50ms: out.p50,
    p99ms: out.p99,
    cpuMicrosecondsPerStoredEvent: perEvent,
    cpuUserSystemMicroseconds: split,
    meanEventsPerIngestCall: meanBatch,
    meanIngestCallMs: meanIngestMs,
    machineIdleUnderLoad,
    bareRequestsPerSec: Math.round(bareRps),
    bareBeforeAndAfter: [Math.round(bareBefore.rps), Math.round(bareAfter.rps)],
    bareCpuUserSystemMicrosecondsPerRequest: bareBefore.cpu,
    ratio: Number((storedPerSec / bareRps).toFixed(3)),
    goal: 0.3,
  };
  console.log(JSON.stringify(result, null, 2));
  if (!result.answeredEqualsStored) process.exitCode = 1;
} finally {
  closeClient(config);
  closeClient(stats);
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
