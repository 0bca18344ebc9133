import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { closeClient, createClient } from '@winnow/grpc';
import { PolicyMode, StatsService } from '@winnow/proto';
import { eventually, freePort, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack } from '../support/stack';
import { runCli } from '../support/serve';

const root = join(__dirname, '..', '..');
const cli = join(root, 'apps/cli/dist/main.js');

/** Runs the CLI without blocking this process (the services under test live in it). */
describe('the winnow command (built services as real processes)', () => {
  it('is built (npm test builds first)', () => {
    expect(existsSync(cli), `${cli} is missing: run npm run build`).toBe(true);
  });

  it('runs the demo end to end and prints the statistics both ways', () => {
    const r = spawnSync(process.execPath, [cli, 'demo'], { cwd: root, encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/campaign flu-shot-reminder of demo-clinic: 40 delivered/);
    expect(r.stdout).toMatch(/reported, automated suppressed/);
    expect(r.stdout).toMatch(/reported, automated included/);
    expect(r.stdout).toMatch(/automated: apple_mpp\s+12\s+12/);
    expect(r.stdout).toMatch(/35 x GET pixel -> 200/);
  }, 120_000);

  it('answers --help for every command with its usage, starting nothing', () => {
    for (const command of ['start', 'demo', 'serve', 'classify', 'prepare-email', 'reclassify', 'erase', 'dead-letters', 'stats', 'links', 'timeline', 'events', 'keys', 'domains', 'policy', 'report']) {
      const r = spawnSync(process.execPath, [cli, command, '--help'], { cwd: root, encoding: 'utf8', timeout: 15_000 });
      expect([command, r.status, r.stdout.startsWith(`usage: winnow ${command}`)], r.stderr).toEqual([command, 0, true]);
    }
    const top = spawnSync(process.execPath, [cli, '--help'], { cwd: root, encoding: 'utf8', timeout: 15_000 });
    expect([top.status, top.stdout.startsWith('usage: winnow <command>')]).toEqual([0, true]);
  }, 120_000);

  it('keeps the demo stack running with --keep, for the README commands, until Ctrl-C', async () => {
    const child = spawn(process.execPath, [cli, 'demo', '--keep'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await eventually(async () => out, (o) => /Ctrl-C stops it/.test(o), 90_000);
      const [, addr, key] = /export WINNOW_STATS_ADDR=(\S+) WINNOW_SERVICE_KEY=(\S+)/.exec(out)!;
      const env = { ...process.env, WINNOW_STATS_ADDR: addr!, WINNOW_SERVICE_KEY: key!, WINNOW_API_KEY: '' };
      const stats = spawnSync(process.execPath, [cli, 'stats', 'flu-shot-reminder', '--tenant', 'demo-clinic'], { cwd: root, encoding: 'utf8', env, timeout: 30_000 });
      expect(stats.status, stats.stderr).toBe(0);
      expect(stats.stdout).toMatch(/campaign flu-shot-reminder \(tenant demo-clinic\): 40 delivered/);
      const timeline = spawnSync(process.execPath, [cli, 'timeline', 'reminder-014', '--tenant', 'demo-clinic'], { cwd: root, encoding: 'utf8', env, timeout: 30_000 });
      expect(timeline.stdout).toMatch(/security_scanner/);
    } finally {
      child.kill('SIGINT');
    }
    expect(await new Promise((ok) => child.on('close', ok))).toBe(0);
  }, 150_000);

  it('starts the stack, reports where it listens, and stops cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'winnow-start-'));
    const ports = { collector: await freePort(), collectorOps: await freePort(), classifier: await freePort(), classifierHttp: await freePort(), stats: await freePort(), statsHttp: await freePort() };
    const child = spawn(process.execPath, [cli, 'start'], {
      cwd: root,
      env: {
        ...process.env,
        WINNOW_DATA_DIR: dataDir,
        WINNOW_COLLECTOR_PORT: String(ports.collector),
        WINNOW_COLLECTOR_OPS_PORT: String(ports.collectorOps),
        WINNOW_CLASSIFIER_GRPC_PORT: String(ports.classifier),
        WINNOW_CLASSIFIER_HTTP_PORT: String(ports.classifierHttp),
        WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${ports.classifier}`,
        WINNOW_STATS_GRPC_PORT: String(ports.stats),
        WINNOW_STATS_HTTP_PORT: String(ports.statsHttp),
        WINNOW_STATS_ADDR: `127.0.0.1:${ports.stats}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A group of its own, so that a failing test kills the services too, not only the launcher.
      detached: true,
    });
    try {
      const banner: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no banner; got ${banner.join('\n')}`)), 30_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          banner.push(line);
          if (line.startsWith('Ctrl-C')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      const text = banner.join('\n');
      expect(text).toContain(`collector   http://127.0.0.1:${ports.collector}`);
      expect(text).toContain(`stats       grpc 127.0.0.1:${ports.stats}`);
      for (const port of [ports.collectorOps, ports.classifierHttp, ports.statsHttp]) {
        expect((await httpRequest({ port, path: '/healthz' })).status).toBe(200);
      }
      // The batch services run below the collector, every thread of them (BATCH_SERVICE_NICE).
      const base = getPriority(child.pid!);
      const services = readdirSync(`/proc/${child.pid}/task`)
        .flatMap((tid) => readFileSync(`/proc/${child.pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
        .map((pid) => {
          const name = /apps\/(\w+)\/dist\/main\.js/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1];
          const nices = [...new Set(readdirSync(`/proc/${pid}/task`).map((tid) => getPriority(Number(tid))))];
          return [name, nices];
        })
        .sort();
      const lowered = Math.min(19, base + 5);
      expect(services).toEqual([
        ['classifier', [lowered]],
        ['collector', [base]],
        ['stats', [lowered]],
      ]);
      const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // The group has gone (the launcher stopped its services and exited).
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('prepares an email, records its delivery, and its URLs work on the collector', async () => {
    const stack = await startStack();
    const stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    try {
      const html = '<html><body><p>Your results are ready: <a href="https://portal.clinic.example/results">view</a>.</p><p><a href="mailto:help@clinic.example">help</a></p></body></html>';
      const args = ['prepare-email', '--tenant', DEMO_TENANT, '--campaign', 'results', '--message', 'r-1', '--host', DEMO_HOSTNAME, '--base-url', `http://${DEMO_HOSTNAME}`, '--stats', stack.statsAddress];
      const r = await runCli(args, html, { WINNOW_SERVICE_KEY: stack.serviceKey });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/prepared r-1: 1 tracked links, 1 trap link, 1 pixel; delivery recorded/);
      expect(r.stdout).toContain('href="mailto:help@clinic.example"');
      expect(r.stdout).not.toContain('portal.clinic.example');
      const link = /<p>Your results are ready: <a href="http:\/\/demo-clinic\.localhost(\/c\/[A-Za-z0-9_-]+)">/.exec(r.stdout)![1]!;
      const pixel = /<img src="http:\/\/demo-clinic\.localhost(\/o\/[A-Za-z0-9_-]+\.gif)"/.exec(r.stdout)![1]!;
      const click = await httpRequest({ port: stack.collector.ports.http!, path: link, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0' } });
      expect(click.status).toBe(302);
      expect(click.headers.location).toBe('https://portal.clinic.example/results');
      expect((await httpRequest({ port: stack.collector.ports.http!, path: pixel, host: DEMO_HOSTNAME })).status).toBe(200);
      const s = await eventually(
        () => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'results', policyMode: PolicyMode.INCLUDE_AUTOMATED }),
        (x) => x.stats!.all!.clicks === '1' && x.stats!.all!.opens === '1',
      );
      expect(s.stats!.delivered).toBe('1');
      const refused = await runCli([...args.slice(0, 5), '--message', 'jane@contoso.org', ...args.slice(7)], html, { WINNOW_SERVICE_KEY: stack.serviceKey });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/looks like an email address/);
    } finally {
      closeClient(stats);
      await stack.stop();
      removeDir(stack.dataDir);
    }
  }, 60_000);
});
