import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { loadStatsConfig } from '@winnow/config';
import type { RunningService } from '@winnow/observability';
import { startStats } from '@winnow/stats';
import { freePort } from '@winnow/http-util';
import { SERVICE_NODE_ARGS } from '../../apps/cli/src/launcher';
import { removeDir } from '../support/stack';

const SERVICE_KEY = 'prepare-worker-service-key-0123456789abcdef';
const TENANT = 'prep-t';
const HOSTNAME = 'links.prep.example.org';

/** A mail of about `bytes` with `links` links: the largest PrepareEmail takes is 4 MiB. */
function mail(bytes: number, links: number): string {
  const anchors = Array.from({ length: links }, (_, i) => `<p>Item ${i}: <a href="https://clinic.example/info/${i}?s=${i}">read more</a></p>`).join('\n');
  const filler = `<p>${'Your appointment details are below. '.repeat(30)}</p>\n`;
  let html = `<!doctype html><html><head><title>Reminder</title></head><body>${anchors}`;
  while (html.length < bytes) html += filler;
  return `${html}</body></html>`;
}

describe('PrepareEmail on worker threads, over gRPC', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'winnow-prepare-worker-'));
  let stats: RunningService;
  let config: ClientOf<typeof ConfigService>;
  let statsClient: ClientOf<typeof StatsService>;

  beforeAll(async () => {
    stats = await startStats(
      loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DRAIN_MS: '500', WINNOW_SERVICE_KEY: SERVICE_KEY, WINNOW_DEMO_TENANT: 'false' }),
      new ConsoleLogger({ logLevels: ['fatal'] }),
    );
    const address = `127.0.0.1:${stats.ports.grpc}`;
    config = createClient(ConfigService, address, { metadata: bearer(SERVICE_KEY), defaultDeadlineMs: 60_000 });
    statsClient = createClient(StatsService, address, { metadata: bearer(SERVICE_KEY), defaultDeadlineMs: 60_000 });
    await config.putTrackingDomain({ domain: { hostname: HOSTNAME, tenant: TENANT, keys: [{ id: 'k1', secret: new Uint8Array(32).fill(9), sealing: true }] } });
  });
  afterAll(async () => {
    closeClient(config);
    closeClient(statsClient);
    await stats?.close();
    removeDir(dataDir);
  });

  it('keeps answering other calls while it prepares the largest mail allowed', async () => {
    const html = mail(4 * 1024 * 1024 - 64 * 1024, 500);
    const started = Date.now();
    let done = false;
    const big = config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'c', message: 'big-1', html }).finally(() => (done = true));
    // Cheap calls one after another while it runs: the longest wait between two answers says whether
    // the service's own thread was free. Had it prepared the mail itself, one wait would span it.
    let answered = 0;
    let longestGap = 0;
    let last = Date.now();
    while (!done) {
      await statsClient.getCampaignStats({ tenant: TENANT, campaign: 'c', policyMode: PolicyMode.EXCLUDE_AUTOMATED });
      const now = Date.now();
      if (!done) {
        answered++;
        longestGap = Math.max(longestGap, now - last);
      }
      last = now;
    }
    const r = await big;
    const took = Date.now() - started;
    expect(r.trackedLinks).toBe(500);
    expect(r.html).toContain(`https://${HOSTNAME}/o/`);
    expect(r.deliveryRecorded).toBe(true);
    // It took long enough to matter (over a second on the development machine), and calls went on through it.
    expect(took).toBeGreaterThan(200);
    expect(answered).toBeGreaterThan(3);
    expect(longestGap).toBeLessThan(took / 2);
  }, 120_000);

  it('answers a mail it cannot prepare with INVALID_ARGUMENT naming why, from the worker', async () => {
    await expect(config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'c', message: 'many-links', html: mail(0, 1001) })).rejects.toThrow(/1001 http\(s\) links; at most 1000 are tracked/);
    // The service and its worker go on.
    const ok = await config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'c', message: 'small-1', html: mail(2_000, 2) });
    expect(ok.trackedLinks).toBe(2);
  });
});

describe('PrepareEmail with its queue full', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'winnow-prepare-queue-'));
  let stats: RunningService;
  let config: ClientOf<typeof ConfigService>;

  beforeAll(async () => {
    // One worker and no room to wait: a second mail while one is prepared is refused.
    stats = await startStats(
      loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DRAIN_MS: '500', WINNOW_SERVICE_KEY: SERVICE_KEY, WINNOW_DEMO_TENANT: 'false', WINNOW_PREPARE_THREADS: '1', WINNOW_PREPARE_QUEUE: '0' }),
      new ConsoleLogger({ logLevels: ['fatal'] }),
    );
    config = createClient(ConfigService, `127.0.0.1:${stats.ports.grpc}`, { metadata: bearer(SERVICE_KEY), defaultDeadlineMs: 60_000 });
    await config.putTrackingDomain({ domain: { hostname: HOSTNAME, tenant: TENANT, keys: [{ id: 'k1', secret: new Uint8Array(32).fill(9), sealing: true }] } });
  });
  afterAll(async () => {
    closeClient(config);
    await stats?.close();
    removeDir(dataDir);
  });

  it('refuses what it cannot take with RESOURCE_EXHAUSTED, at once, and takes mails again once there is room', async () => {
    const html = mail(1024 * 1024, 200);
    const calls = Array.from({ length: 4 }, (_, i) => config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'q', message: `q-${i}`, html, skipDelivery: true }).then(
      (r) => `ok ${r.trackedLinks}`,
      (err: Error) => err.message,
    ));
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'ok 200').length).toBeGreaterThanOrEqual(1);
    const refused = results.filter((r) => r !== 'ok 200');
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r).toMatch(/1 mails are already being prepared or waiting; retry shortly/);
    expect((await config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'q', message: 'q-after', html: mail(1_000, 1), skipDelivery: true })).trackedLinks).toBe(1);
  }, 120_000);
});

describe('PrepareEmail when the service is stopped', () => {
  it('finishes a mail being prepared within the drain, then stops', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'winnow-prepare-drain-'));
    const stats = await startStats(
      loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DRAIN_MS: '20000', WINNOW_SERVICE_KEY: SERVICE_KEY, WINNOW_DEMO_TENANT: 'false' }),
      new ConsoleLogger({ logLevels: ['fatal'] }),
    );
    const config = createClient(ConfigService, `127.0.0.1:${stats.ports.grpc}`, { metadata: bearer(SERVICE_KEY), defaultDeadlineMs: 60_000 });
    try {
      await config.putTrackingDomain({ domain: { hostname: HOSTNAME, tenant: TENANT, keys: [{ id: 'k1', secret: new Uint8Array(32).fill(9), sealing: true }] } });
      // Warm the worker, so the big mail is being prepared when the stop comes.
      await config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'd', message: 'd-0', html: mail(1_000, 1), skipDelivery: true });
      const big = config.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'd', message: 'd-1', html: mail(2 * 1024 * 1024, 300), skipDelivery: true });
      await new Promise((r) => setTimeout(r, 150));
      const closed = stats.close();
      expect((await big).trackedLinks).toBe(300);
      await closed;
    } finally {
      closeClient(config);
      await stats.close();
      removeDir(dataDir);
    }
  }, 120_000);
});

describe('PrepareEmail in the stats service as the launcher starts it (its Node flags, which worker threads refuse)', () => {
  it('prepares mails, and the service stays up', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'winnow-prepare-launched-'));
    const grpcPort = await freePort();
    const httpPort = await freePort();
    // As `npm start` and `winnow start` run it (apps/cli/src/launcher.ts): the built service, the launcher's flags.
    const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, join(__dirname, '..', '..', 'apps', 'stats', 'dist', 'main.js')], {
      env: { ...process.env, WINNOW_SERVICE_KEY: SERVICE_KEY, WINNOW_STATS_GRPC_PORT: String(grpcPort), WINNOW_STATS_HTTP_PORT: String(httpPort), WINNOW_DATA_DIR: dataDir, WINNOW_DEMO_TENANT: 'false', WINNOW_LOG_LEVEL: 'warn', WINNOW_BIND_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    let exited: number | null | undefined;
    child.once('exit', (code) => (exited = code));
    createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
    await new Promise<void>((ok, fail) => {
      createInterface({ input: child.stdout! }).on('line', (l) => {
        logs.push(l);
        if (l.includes('"listening"')) ok();
      });
      child.once('exit', () => fail(new Error(`stats exited before it listened:\n${logs.join('\n')}`)));
    });
    const client = createClient(ConfigService, `127.0.0.1:${grpcPort}`, { metadata: bearer(SERVICE_KEY), defaultDeadlineMs: 30_000 });
    try {
      await client.putTrackingDomain({ domain: { hostname: HOSTNAME, tenant: TENANT, keys: [{ id: 'k1', secret: new Uint8Array(32).fill(9), sealing: true }] } });
      for (const message of ['l-1', 'l-2']) {
        const r = await client.prepareEmail({ tenant: TENANT, hostname: HOSTNAME, campaign: 'l', message, html: mail(2_000, 3) });
        expect(r.trackedLinks).toBe(3);
      }
      // Still up a moment later (a stray rejection once ended the process after the call).
      await new Promise((r) => setTimeout(r, 500));
      expect(exited, logs.join('\n')).toBeUndefined();
    } finally {
      closeClient(client);
      if (exited === undefined) {
        const gone = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        await gone;
      }
      removeDir(dataDir);
    }
  }, 120_000);
});
