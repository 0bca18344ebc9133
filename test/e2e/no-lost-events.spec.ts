import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleLogger } from '@nestjs/common';
import { loadClassifierConfig, loadCollectorConfig, loadStatsConfig } from '@winnow/config';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath, type Keyring } from '@winnow/tokens';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { startClassifier } from '@winnow/classifier';
import { startCollector } from '@winnow/collector';
import { startStats, DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import type { RunningService } from '@winnow/observability';
import { join } from 'node:path';
import { removeDir, startStack, storedEventIds, type Stack } from '../support/stack';

const quiet = () => new ConsoleLogger({ logLevels: ['fatal'] });
const CAMPAIGN = 'outage';

/** Sends pixel GETs from `connections` keep-alive loops until stopped; counts the answers. */
function load(port: number, paths: string[], connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let answered = 0;
  let failed = 0;
  let running = true;
  const loop = async (worker: number) => {
    for (let i = worker; running; i += connections) {
      const status = await new Promise<number>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: paths[i % paths.length], agent, headers: { host: DEMO_HOSTNAME, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/144.0' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.end();
      });
      if (status === 200) answered++;
      else failed++;
    }
  };
  const loops = Array.from({ length: connections }, (_, w) => loop(w));
  return {
    get answered() {
      return answered;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { answered, failed };
    },
  };
}

const allEventIds = (stats: ClientOf<typeof StatsService>) => storedEventIds(stats, DEMO_TENANT, CAMPAIGN);

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe('no lost events', () => {
  let stack: Stack | undefined;
  const extra: RunningService[] = [];
  afterEach(async () => {
    for (const s of extra.splice(0).reverse()) await s.close().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    if (stack) removeDir(stack.dataDir);
    stack = undefined;
  });

  async function setup(env: Record<string, string> = {}) {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error', ...env });
    const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!;
    closeClient(config);
    const keyring: Keyring = keyringOf(domain);
    const sent = String(Math.floor(Date.now() / 1000));
    const paths = Array.from({ length: 200 }, (_, i) => pixelPath(keyring, { tenant: DEMO_TENANT, campaign: CAMPAIGN, message: `m${i}`, sentAtUnixS: sent, links: 1 }));
    return { stack, paths };
  }

  // Durable capture on (the default: each answer waits for its event's group commit) and off (the
  // answer goes out in the same event-loop turn, the commit follows).
  it.each(['true', 'false'])('answers every request while the classifier and then the store are down, and stores each event exactly once (WINNOW_CAPTURE_SYNC=%s)', async (captureSync) => {
    const { stack: s, paths } = await setup({ WINNOW_CAPTURE_SYNC: captureSync });
    const collectorPort = s.collector.ports.http!;
    const run = load(collectorPort, paths, 16);
    await sleep(600);
    // The classifier goes away in the middle of the run...
    const classifierPort = s.classifier.ports.grpc!;
    await s.classifier.close();
    await sleep(800);
    const duringOutage = run.answered;
    await sleep(400);
    expect(run.answered).toBeGreaterThan(duringOutage); // still answering
    s.classifier = await startClassifier(
      loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: String(classifierPort), WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: s.statsAddress, WINNOW_SERVICE_KEY: s.serviceKey }),
      quiet(),
    );
    await sleep(600);
    // ...and then the store.
    const statsPort = s.stats.ports.grpc!;
    await s.stats.close();
    await sleep(800);
    s.stats = await startStats(loadStatsConfig({ WINNOW_STATS_GRPC_PORT: String(statsPort), WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: s.dataDir, WINNOW_SERVICE_KEY: s.serviceKey }), quiet());
    await sleep(600);
    const { answered, failed } = await run.stop();
    expect(failed).toBe(0);
    expect(answered).toBeGreaterThan(500);

    const stats = createClient(StatsService, s.statsAddress, { metadata: s.auth });
    try {
      const final = await eventually(
        () => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: CAMPAIGN, policyMode: PolicyMode.INCLUDE_AUTOMATED }),
        (r) => Number(r.stats!.all!.opens) >= answered,
        30_000,
        200,
      );
      expect(Number(final.stats!.all!.opens)).toBe(answered);
      const ids = await allEventIds(stats);
      expect(ids).toHaveLength(answered);
      expect(new Set(ids).size).toBe(answered);
      const metrics = (await httpRequest({ port: s.collector.ports.ops!, path: '/metrics' })).body.toString();
      expect(metricValue(metrics, 'winnow_collector_events_spooled_total')).toBeGreaterThan(0);
      expect(metricValue(metrics, 'winnow_collector_events_accepted_total')).toBe(answered);
      expect(metricValue(metrics, 'winnow_collector_events_dropped_total') ?? 0).toBe(0);
    } finally {
      closeClient(stats);
    }
  }, 90_000);

  it('keeps spooled events across a collector restart and replays them once downstream returns', async () => {
    const { stack: s, paths } = await setup();
    const classifierPort = s.classifier.ports.grpc!;
    await s.classifier.close();
    const run = load(s.collector.ports.http!, paths, 8);
    await sleep(700);
    const { answered } = await run.stop();
    expect(answered).toBeGreaterThan(50);
    // SIGTERM path: stop accepting, try to drain (downstream is down), leave the rest on disk.
    await s.collector.close();
    s.classifier = await startClassifier(
      loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: String(classifierPort), WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: s.statsAddress, WINNOW_SERVICE_KEY: s.serviceKey }),
      quiet(),
    );
    s.collector = await startCollector(
      loadCollectorConfig({
        WINNOW_COLLECTOR_PORT: '0',
        WINNOW_COLLECTOR_OPS_PORT: '0',
        WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${classifierPort}`,
        WINNOW_STATS_ADDR: s.statsAddress,
        WINNOW_SPOOL_DIR: join(s.dataDir, 'spool'),
        WINNOW_BATCH_MAX_DELAY_MS: '10',
        WINNOW_SERVICE_KEY: s.serviceKey,
      }),
      quiet(),
    );
    const stats = createClient(StatsService, s.statsAddress, { metadata: s.auth });
    try {
      const ids = await eventually(() => allEventIds(stats), (x) => x.length >= answered, 20_000, 200);
      expect(ids).toHaveLength(answered);
      expect(new Set(ids).size).toBe(answered);
      const metrics = (await httpRequest({ port: s.collector.ports.ops!, path: '/metrics' })).body.toString();
      expect(metricValue(metrics, 'winnow_collector_events_replayed_total')).toBe(answered);
    } finally {
      closeClient(stats);
    }
  }, 60_000);
});
