// npm run -s bench:late-answer
//
// What answering late costs node:http. The collector answers a tracking request only once its event
// is on disk (10-12 ms later under load); this runs the bare pixel server of bench:collector answering
// at once, at the next setImmediate, and 5 and 10 ms later, each under the same wrk (-t1 -c64,
// BENCH_SECONDS each, default 8), twice in turn, and prints requests/s and the server's own CPU
// microseconds per request (user + system, from /proc). Needs wrk (Debian package wrk).
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseWrk, procCpuSeconds } from './wrk.mjs';

const mode = process.env.LATE_ANSWER_MODE;
if (mode) {
  // The server: the GIF and headers of bench/bare-server.mjs, answered per `mode`.
  const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
  const headers = { 'content-type': 'image/gif', 'content-length': String(gif.length), 'cache-control': 'no-store, no-cache, must-revalidate, private, max-age=0', pragma: 'no-cache', expires: '0' };
  let waiting = [];
  const answer = () => {
    const now = waiting;
    waiting = [];
    for (const res of now) res.writeHead(200, headers).end(gif);
  };
  const server = createServer((_req, res) => {
    if (mode === 'now') return res.writeHead(200, headers).end(gif);
    waiting.push(res);
    if (waiting.length === 1) {
      if (mode === 'immediate') setImmediate(answer);
      else setTimeout(answer, Number(mode));
    }
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const seconds = Number(process.env.BENCH_SECONDS ?? 8);
  const run = promisify(execFile);
  const rows = [];
  for (let round = 1; round <= 2; round++) {
    for (const m of ['now', 'immediate', '5', '10']) {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, LATE_ANSWER_MODE: m }, stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise((ok) => createInterface({ input: child.stdout }).once('line', ok));
      const before = procCpuSeconds(child.pid);
      const out = parseWrk((await run('wrk', ['-t1', '-c64', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`])).stdout);
      const after = procCpuSeconds(child.pid);
      child.kill('SIGTERM');
      const cpu = (after.user - before.user + after.system - before.system) * 1e6;
      rows.push({ round, answer: m === 'now' || m === 'immediate' ? m : `after ${m} ms`, requestsPerSec: Math.round(out.rps), p50ms: out.p50, cpuMicrosecondsPerRequest: Math.round(cpu / Math.max(1, out.requests)) });
    }
  }
  console.table(rows);
}
