import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { bearer, closeClient, createClient } from '@winnow/grpc';
import { ClassifierService, EventFilterSchema, PolicyMode, StatsService } from '@winnow/proto';
import { parseTraceLine } from '@winnow/classification';
import { buildCampaigns } from '@winnow/evaluation';
import { edgeEventOf, freePort, httpRequest, metricValue } from '@winnow/testing';
import { removeDir } from '../support/stack';
import { CLI as cli, serveProcess, stopProcess } from '../support/serve';

// Erasing one message through the command line, against real service processes logging at debug
// level: nothing of it can be read back through the API or through LMDB's own interface, its
// later events are not stored, and no log line ever carried its id.
const KEY = 'erasure-test-service-key-0123456789abcdef';

describe('erasing a message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-erasure-'));
  const logs: string[] = [];
  const procs: ChildProcess[] = [];
  const serve = async (service: string, env: Record<string, string>) => {
    const p = await serveProcess(service, { WINNOW_SERVICE_KEY: KEY, WINNOW_LOG_LEVEL: 'debug', WINNOW_DRAIN_MS: '0', ...env }, (l) => logs.push(l));
    procs.push(p);
    return p;
  };
  const stop = (p: ChildProcess) => stopProcess(p, 'SIGTERM');
  afterAll(async () => {
    await Promise.all(procs.map(stop));
    removeDir(dir);
  });

  it('leaves nothing of it to read, refuses its later events, and never logged its id', async () => {
    const traces = buildCampaigns().find((c) => c.name === 'reminders-b')!.lines.map((l) => parseTraceLine(l));
    const tenant = traces[0]!.tenant;
    const campaign = traces[0]!.campaign;
    const victim = traces.find((t, i) => traces.findIndex((u) => u.message === t.message) === i && traces.filter((u) => u.message === t.message).length >= 3)!.message;
    const ports = { grpc: await freePort(), http: await freePort(), cgrpc: await freePort() };
    const statsEnv = { WINNOW_STATS_GRPC_PORT: String(ports.grpc), WINNOW_STATS_HTTP_PORT: String(ports.http), WINNOW_DATA_DIR: dir, WINNOW_DEMO_TENANT: 'false', WINNOW_EVENT_RETENTION_DAYS: '0' };
    let stats = await serve('stats', statsEnv);
    await serve('classifier', { WINNOW_CLASSIFIER_GRPC_PORT: String(ports.cgrpc), WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: `127.0.0.1:${ports.grpc}` });
    const classifier = createClient(ClassifierService, `127.0.0.1:${ports.cgrpc}`, { metadata: bearer(KEY) });
    const api = () => createClient(StatsService, `127.0.0.1:${ports.grpc}`, { metadata: bearer(KEY) });
    let client = api();
    try {
      const events = traces.map(edgeEventOf);
      const later = events.filter((e) => e.message === victim).pop()!;
      const before = events.filter((e) => e !== later);
      for (let i = 0; i < before.length; i += 100) await classifier.ingest([{ events: before.slice(i, i + 100) }]);
      expect((await client.getMessageTimeline({ tenant, message: victim })).timeline!.events.length).toBeGreaterThanOrEqual(2);
      const figures = async () => (await client.getCampaignStats({ tenant, campaign, policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!.all!;
      const counted = await figures();

      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'erase', '--tenant', tenant, '--message', victim, '--json', '--stats', `127.0.0.1:${ports.grpc}`], { env: { ...process.env, WINNOW_SERVICE_KEY: KEY } });
      expect(JSON.parse(stdout)).toMatchObject({ erased: 'message', messages: 1 });
      expect(JSON.parse(stdout).events).toBeGreaterThanOrEqual(2);

      // The API: no timeline, no events; the campaign's counters stay as aggregates.
      await expect(client.getMessageTimeline({ tenant, message: victim })).rejects.toMatchObject({ code: 'not_found' });
      expect((await client.listEvents({ filter: create(EventFilterSchema, { tenant, message: victim }), pageSize: 100 })).events).toEqual([]);
      expect(await figures()).toEqual(counted);

      // A later event of the erased message is acknowledged and not stored, also after a restart.
      closeClient(client);
      await stop(stats);
      // The store's own query interface: every key and value of every database, the message id nowhere.
      const root = open({ path: join(dir, 'store'), maxDbs: 32, readOnly: true });
      let scanned = 0;
      for (const name of ['events', 'byTime', 'messages', 'campaigns', 'hours', 'deadLetters', 'jobs', 'tombstones', 'fences']) {
        const db = root.openDB({ name, encoding: 'binary' });
        for (const { key, value } of db.getRange()) {
          scanned++;
          expect(JSON.stringify(key)).not.toContain(victim);
          expect(Buffer.from(value as Uint8Array).includes(victim)).toBe(false);
        }
      }
      expect(scanned).toBeGreaterThan(100);
      await root.close();
      stats = await serve('stats', statsEnv);
      client = api();
      const r = await classifier.ingest([{ events: [later] }]);
      expect(r.received).toBe('1');
      await expect(client.getMessageTimeline({ tenant, message: victim })).rejects.toMatchObject({ code: 'not_found' });
      const metrics = (await httpRequest({ port: ports.http, path: '/metrics' })).body.toString();
      expect(metricValue(metrics, 'winnow_erased_events_refused_total')).toBe(1);

      // Every line both services logged, at debug level, through all of it.
      expect(logs.length).toBeGreaterThan(5);
      expect(logs.filter((l) => l.includes(victim))).toEqual([]);
    } finally {
      closeClient(classifier);
      closeClient(client);
    }
  }, 120_000);
});
