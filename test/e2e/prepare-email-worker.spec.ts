import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { loadStatsConfig } from '@winnow/config';
import type { RunningService } from '@winnow/observability';
import { startStats } from '@winnow/stats';
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
