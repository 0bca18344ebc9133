import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { ConsoleLogger } from '@nestjs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { loadClassifierConfig } from '@winnow/config';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, freePort } from '@winnow/testing';
import { startClassifier } from '@winnow/classifier';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, storedEventIds, type Stack } from '../support/stack';
import { exited, serveProcess } from '../support/serve';

// What Kubernetes does to a collector pod: SIGTERM on a roll or a drain, SIGKILL when the grace
// period runs out or the node dies. Each time the next pod mounts the same claim (here: the same
// spool directory). The collector runs as its own OS process, started as the image starts it.
const CAMPAIGN = 'k8s-moves';


const startCollectorProcess = (env: Record<string, string>) => serveProcess('collector', env);

/** Sends `count` pixel requests over keep-alive connections; returns how many were answered 200. */
async function send(port: number, paths: string[]): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const results = await Promise.all(
    paths.map(
      (path) =>
        new Promise<number>((ok) => {
          const req = request({ host: '127.0.0.1', port, path, agent, headers: { host: DEMO_HOSTNAME, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/144.0' } }, (res) => {
            res.resume();
            res.on('end', () => ok(res.statusCode ?? 0));
          });
          req.on('error', () => ok(0));
          req.end();
        }),
    ),
  );
  agent.destroy();
  return results.filter((s) => s === 200).length;
}

const stopped = exited;

const storedIds = (stats: ClientOf<typeof StatsService>) => storedEventIds(stats, DEMO_TENANT, CAMPAIGN);

describe('the collector process stopped by SIGTERM and by SIGKILL while downstream is away', () => {
  let stack: Stack | undefined;
  let collector: ChildProcess | undefined;
  afterAll(async () => {
    collector?.kill('SIGKILL');
    await stack?.stop().catch(() => undefined);
    if (stack) removeDir(stack.dataDir);
  });

  it('stores every answered event exactly once after the next start on the same spool', async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    const s = stack;
    await s.collector.close(); // the in-process one: the collector here is an OS process
    const config = createClient(ConfigService, s.statsAddress, { metadata: s.auth });
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!;
    closeClient(config);
    const keyring = keyringOf(domain);
    const sent = String(Math.floor(Date.now() / 1000));
    const paths = (from: number, n: number) => Array.from({ length: n }, (_, i) => pixelPath(keyring, { tenant: DEMO_TENANT, campaign: CAMPAIGN, message: `m${from + i}`, sentAtUnixS: sent, links: 1 }));
    const classifierPort = s.classifier.ports.grpc!;
    const [http, ops] = [await freePort(), await freePort()];
    const env = {
      WINNOW_SERVICE_KEY: s.serviceKey,
      WINNOW_COLLECTOR_PORT: String(http),
      WINNOW_COLLECTOR_OPS_PORT: String(ops),
      WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${classifierPort}`,
      WINNOW_STATS_ADDR: s.statsAddress,
      WINNOW_SPOOL_DIR: join(s.dataDir, 'spool'),
      WINNOW_BATCH_MAX_DELAY_MS: '10',
      WINNOW_DRAIN_MS: '1000',
      WINNOW_LOG_LEVEL: 'error',
    };

    // Downstream goes away.
    await s.classifier.close();

    collector = await startCollectorProcess(env);
    const first = await send(http, paths(0, 150));
    collector.kill('SIGTERM');
    expect(await stopped(collector)).toBe(0); // drained what it could, left the rest on disk, exited 0

    collector = await startCollectorProcess(env);
    const second = await send(http, paths(150, 150));
    collector.kill('SIGKILL');
    expect(await stopped(collector)).toBe('SIGKILL');
    expect(first).toBe(150);
    expect(second).toBe(150);

    // Downstream returns; the next process on the same spool sends everything.
    s.classifier = await startClassifier(
      loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: String(classifierPort), WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: s.statsAddress, WINNOW_SERVICE_KEY: s.serviceKey }),
      new ConsoleLogger({ logLevels: ['fatal'] }),
    );
    collector = await startCollectorProcess(env);
    const stats = createClient(StatsService, s.statsAddress, { metadata: s.auth });
    try {
      const ids = await eventually(() => storedIds(stats), (x) => x.length >= first + second, 30_000, 250);
      expect(ids).toHaveLength(first + second);
      expect(new Set(ids).size).toBe(first + second);
    } finally {
      closeClient(stats);
    }
  }, 90_000);
});
