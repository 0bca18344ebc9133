import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleLogger } from '@nestjs/common';
import { loadCollectorConfig } from '@winnow/config';
import { ErrorCode, WinnowError, addService, bindServer, closeClient, createClient, newServer, shutdownServer, type ClientOf } from '@winnow/grpc';
import { ClassifierService, ConfigService, StatsService, type IngestRequest } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { startCollector } from '@winnow/collector';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import type { RunningService } from '@winnow/observability';
import { removeDir, startStack, storedEventIds, type Stack } from '../support/stack';

const CAMPAIGN = 'in-flight';
const BATCH = 20;

/**
 * A real gRPC hop between the collector and the real classifier that holds the first batch until
 * the test lets it go (or fails it), and forwards every other batch at once: it shows what the
 * collector does with two batches on their way when the older one is slow or fails. A stand-in only
 * for the faults: the real classifier cannot be made to hold, fail or refuse one chosen batch on cue.
 */
async function gate(classifierAddress: string, serviceKey: string, failCalls: Record<number, ErrorCode> = {}) {
  const downstream = createClient(ClassifierService, classifierAddress, { metadata: { authorization: `Bearer ${serviceKey}` } });
  let calls = 0;
  const idsOf: string[][] = [];
  let open = 0;
  let mostOpen = 0;
  let release!: (fail: boolean) => void;
  const held = new Promise<boolean>((ok) => (release = ok));
  const server = newServer();
  addService(server, ClassifierService, {
    classify: () => Promise.reject(new WinnowError(ErrorCode.FailedPrecondition, 'the gate only forwards Ingest')),
    ingest: async (requests: AsyncIterable<IngestRequest>) => {
      const call = ++calls;
      open++;
      mostOpen = Math.max(mostOpen, open);
      try {
        const batches: IngestRequest[] = [];
        for await (const r of requests) batches.push(r);
        idsOf[call - 1] = batches.flatMap((b) => b.events.map((e) => e.id));
        const failWith = failCalls[call];
        if (failWith) throw new WinnowError(failWith, `the gate failed call ${call}`);
        if (call === 1 && Object.keys(failCalls).length === 0 && (await held)) throw new WinnowError(ErrorCode.Unavailable, 'the gate failed the first batch');
        return await downstream.ingest(batches.map((b) => ({ events: b.events })));
      } finally {
        open--;
      }
    },
  });
  const port = await bindServer(server, '127.0.0.1:0');
  return {
    address: `127.0.0.1:${port}`,
    release,
    get calls() {
      return calls;
    },
    /** The event ids each call carried, in call order. */
    idsOf,
    get mostOpen() {
      return mostOpen;
    },
    async stop() {
      release(false);
      await shutdownServer(server, 500);
      closeClient(downstream);
    },
  };
}

describe('batches in flight between the collector and the classifier', () => {
  let stack: Stack | undefined;
  let collector: RunningService | undefined;
  let hop: Awaited<ReturnType<typeof gate>> | undefined;
  let stats: ClientOf<typeof StatsService> | undefined;
  afterEach(async () => {
    if (stats) closeClient(stats);
    await collector?.close().catch(() => undefined);
    await hop?.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    if (stack) removeDir(stack.dataDir);
    stack = collector = hop = stats = undefined;
  });

  /** The stack, the gate in front of its classifier (failing the calls named), a collector behind the gate, and a pixel request. */
  async function setup(failCalls: Record<number, ErrorCode> = {}) {
    const s = (stack = await startStack({ WINNOW_LOG_LEVEL: 'error' }));
    const h = (hop = await gate(`127.0.0.1:${s.classifier.ports.grpc}`, s.serviceKey, failCalls));
    const c = (collector = await startCollector(
      loadCollectorConfig({
        WINNOW_COLLECTOR_PORT: '0',
        WINNOW_COLLECTOR_OPS_PORT: '0',
        WINNOW_CLASSIFIER_ADDR: h.address,
        WINNOW_STATS_ADDR: s.statsAddress,
        WINNOW_SERVICE_KEY: s.serviceKey,
        WINNOW_SPOOL_DIR: join(s.dataDir, 'gated-spool'),
        WINNOW_BATCH_MAX_EVENTS: String(BATCH),
        WINNOW_BATCHES_IN_FLIGHT: '2',
        WINNOW_BATCH_MAX_DELAY_MS: '10',
      }),
      new ConsoleLogger({ logLevels: ['fatal'] }),
    ));
    const config = createClient(ConfigService, s.statsAddress, { metadata: s.auth });
    const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
    closeClient(config);
    const st = (stats = createClient(StatsService, s.statsAddress, { metadata: s.auth }));
    const sent = String(Math.floor(Date.now() / 1000));
    const pixel = async (message: string) => {
      const path = pixelPath(keyring, { tenant: DEMO_TENANT, campaign: CAMPAIGN, message, sentAtUnixS: sent, links: 1 });
      return (await httpRequest({ port: c.ports.http!, path, headers: { host: DEMO_HOSTNAME, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/144.0' } })).status;
    };
    const metric = async (name: string) => metricValue((await httpRequest({ port: c.ports.ops!, path: '/metrics' })).body.toString(), name) ?? 0;
    const stored = (n: number) => eventually(() => storedEventIds(st, DEMO_TENANT, CAMPAIGN), (ids) => ids.length === n, 15_000, 50);
    return { hop: h, pixel, metric, stored };
  }

  it.each([false, true])('sends the next full batch while the oldest is out, acknowledges in spool order, and stores each event once (oldest fails: %s)', async (failOldest) => {
    const { hop, pixel, metric, stored } = await setup();
    // Three full batches: the first is held at the gate, the second goes beside it, the third waits.
    for (let i = 0; i < 3 * BATCH; i++) expect(await pixel(`m${i}`)).toBe(200);
    // The second batch is stored while the first is held...
    await stored(BATCH);
    expect(hop.calls).toBe(2);
    expect(hop.mostOpen).toBe(2);
    // ...but nothing is acknowledged: the spool keeps everything until the oldest is stored.
    await new Promise((ok) => setTimeout(ok, 300));
    expect(await metric('winnow_collector_events_sent_total')).toBe(0);
    expect(await metric('winnow_collector_queue_depth')).toBe(3 * BATCH);
    hop.release(failOldest);
    const ids = await stored(3 * BATCH);
    expect(new Set(ids).size).toBe(3 * BATCH);
    await eventually(() => metric('winnow_collector_events_sent_total'), (n) => n === 3 * BATCH, 10_000, 50);
    expect(await metric('winnow_collector_queue_depth')).toBe(0);
    // Never more than two out at once; a failed oldest batch went once more, whole, and nothing else did.
    expect(hop.mostOpen).toBe(2);
    const first = hop.idsOf[0]!;
    expect(hop.idsOf.filter((ids) => ids.join() === first.join())).toHaveLength(failOldest ? 2 : 1);
    expect(hop.idsOf.flat()).toHaveLength(3 * BATCH + (failOldest ? first.length : 0));
  }, 60_000);

  it('keeps answering and sending after a lone batch fails and is then refused (sent one by one)', async () => {
    // The first send is unavailable, its retry refused as invalid: the batch goes one event at a time.
    const { hop, pixel, stored } = await setup({ 1: ErrorCode.Unavailable, 2: ErrorCode.InvalidArgument });
    for (let i = 0; i < 5; i++) expect(await pixel(`lone${i}`)).toBe(200);
    await stored(5);
    // The batch went twice whole (unavailable, then refused), then one event a call.
    const first = hop.idsOf[0]!;
    expect(hop.idsOf[1]).toEqual(first);
    expect(hop.idsOf.slice(2, 2 + first.length)).toEqual(first.map((id) => [id]));
    // The collector is not spinning (a loop with no await would starve the HTTP server): it answers, and sends.
    for (let i = 5; i < 10; i++) expect(await pixel(`lone${i}`)).toBe(200);
    expect(new Set(await stored(10)).size).toBe(10);
  }, 60_000);
});
