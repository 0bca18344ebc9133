// wrk helpers shared by bench:pipeline and bench:floor: a Lua script that walks a file of paths
// (each used once until all are, then again) and the parsing of wrk's report.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the Lua script into `dir` and returns its path. */
export function wrkScript(dir, pathsFile, host, name = 'paths.lua') {
  const lua = join(dir, name);
  writeFileSync(
    lua,
    `local paths = {}
for line in io.lines("${pathsFile}") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], { ["Host"] = "${host}", ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", ["Accept-Language"] = "en-GB" })
end
`,
  );
  return lua;
}

/** Requests, non-2xx/3xx answers, socket errors, requests/s and p50/p99 in ms from wrk's report. */
export function parseWrk(out) {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
  const ms = (label) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return { requests, non2xx, errors, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p50: ms('50'), p99: ms('99') };
}

/** User and system CPU seconds of a process and all its threads, from /proc (Linux). */
export function procCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  const tick = 100; // USER_HZ on Linux
  return { user: Number(fields[11]) / tick, system: Number(fields[12]) / tick };
}

/** The machine's CPU time so far, idle (idle + iowait) and in all, from the first line of /proc/stat. */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

export const idleShare = (a, b) => Number(((b.idle - a.idle) / Math.max(1, b.total - a.total)).toFixed(3));

export const microsPer = (a, b, n) => ({
  user: Math.round(((b.user - a.user) * 1e6) / Math.max(1, n)),
  system: Math.round(((b.system - a.system) * 1e6) / Math.max(1, n)),
});

