import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { bearer } from '@winnow/grpc';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger } from '@nestjs/common';
import { loadClassifierConfig, loadCollectorConfig, loadStatsConfig } from '@winnow/config';
import type { RunningService } from '@winnow/observability';
import type { ClientOf } from '@winnow/grpc';
import type { StatsService } from '@winnow/proto';
import { startClassifier } from '@winnow/classifier';
import { startCollector } from '@winnow/collector';
import { startStats } from '@winnow/stats';

export interface Stack {
  /** The service key all three share; `auth` is its metadata. */
  serviceKey: string;
  auth: Record<string, string>;
  stats: RunningService;
  classifier: RunningService;
  collector: RunningService;
  statsAddress: string;
  dataDir: string;
  /** Stops all three, collector first (it drains into the others). */
  stop(): Promise<void>;
}

const quiet = () => new ConsoleLogger({ logLevels: ['error', 'fatal'] });

/**
 * The three services on loopback with ports chosen by the OS and a fresh embedded store.
 * `env` overrides configuration the way the environment would.
 */
export async function startStack(env: Record<string, string> = {}, dataDir = mkdtempSync(join(tmpdir(), 'winnow-e2e-'))): Promise<Stack> {
  const serviceKey = env['WINNOW_SERVICE_KEY'] ?? randomBytes(32).toString('base64url');
  env = { WINNOW_SERVICE_KEY: serviceKey, ...env };
  const stats = await startStats(
    loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DRAIN_MS: '500', ...env }),
    quiet(),
  );
  const statsAddress = `127.0.0.1:${stats.ports.grpc}`;
  const classifier = await startClassifier(
    loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: '0', WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: statsAddress, WINNOW_DRAIN_MS: '500', ...env }),
    quiet(),
  );
  const collector = await startCollector(
    loadCollectorConfig({
      WINNOW_COLLECTOR_PORT: '0',
      WINNOW_COLLECTOR_OPS_PORT: '0',
      WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${classifier.ports.grpc}`,
      WINNOW_STATS_ADDR: statsAddress,
      WINNOW_BATCH_MAX_DELAY_MS: '10',
      WINNOW_DOMAIN_REFRESH_MS: '200',
      WINNOW_DRAIN_MS: '2000',
      WINNOW_SPOOL_DIR: join(dataDir, 'spool'),
      ...env,
    }),
    quiet(),
  );
  return {
    serviceKey,
    auth: bearer(serviceKey),
    stats,
    classifier,
    collector,
    statsAddress,
    dataDir,
    async stop() {
      await collector.close();
      await classifier.close();
      await stats.close();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Every stored event id of one campaign, page by page (ListEvents). */
export async function storedEventIds(stats: ClientOf<typeof StatsService>, tenant: string, campaign: string): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = '';
  do {
    const page = await stats.listEvents({ filter: { tenant, campaign }, pageSize: 1000, pageToken });
    ids.push(...page.events.map((e) => e.event!.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}
