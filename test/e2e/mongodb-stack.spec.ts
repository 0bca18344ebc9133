import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { closeClient, createClient } from '@winnow/grpc';
import { ConfigService, LinkRole, PolicyMode, StatsService } from '@winnow/proto';
import { clickPath, keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

const url = process.env['MONGODB_URL'];

describe.runIf(url !== undefined || process.env['CI'] === 'true')('the stack on MongoDB (WINNOW_STORE=mongodb)', () => {
  let stack: Stack | undefined;
  const database = `winnow_e2e_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    await stack?.stop();
    if (stack) removeDir(stack.dataDir);
    if (url) {
      const c = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
      await c.db(database).dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  it('stores events and answers statistics from MongoDB', async () => {
    expect(url, 'MONGODB_URL must be set in CI').toBeDefined();
    const dbUrl = new URL(url!);
    dbUrl.pathname = `/${database}`;
    stack = await startStack({ WINNOW_STORE: 'mongodb', MONGODB_URL: dbUrl.toString() });
    const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    try {
      const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
      const path = pixelPath(keyring, { tenant: DEMO_TENANT, campaign: 'mongo', message: 'm1', sentAtUnixS: String(Math.floor(Date.now() / 1000)), links: 1 });
      for (const ua of ['Mozilla/5.0', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36']) {
        expect((await httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': ua } })).status).toBe(200);
      }
      const s = await eventually(
        () => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'mongo', policyMode: PolicyMode.INCLUDE_AUTOMATED }),
        (r) => r.stats!.all!.opens === '2',
      );
      expect(s.stats!.human!.opens).toBe('1');
      const c = new MongoClient(url!);
      try {
        expect(await c.db(database).collection('events').countDocuments({ tenant: DEMO_TENANT, campaign: 'mongo' })).toBe(2);
      } finally {
        await c.close();
      }
    } finally {
      closeClient(config);
      closeClient(stats);
    }
  });

  it('carries a small load end to end: four connections, every answered request stored once', async () => {
    const config = createClient(ConfigService, stack!.statsAddress, { metadata: stack!.auth });
    const stats = createClient(StatsService, stack!.statsAddress, { metadata: stack!.auth });
    try {
      const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
      const paths: string[] = [];
      for (let i = 0; i < 100; i++) {
        const ref = { tenant: DEMO_TENANT, campaign: 'mongo-load', message: `l${i}`, sentAtUnixS: String(Math.floor(Date.now() / 1000) - 600), links: 3 };
        paths.push(pixelPath(keyring, ref), clickPath(keyring, ref, 0, LinkRole.CONTENT, 'https://clinic.example/a'), clickPath(keyring, ref, 1, LinkRole.CONTENT, 'https://clinic.example/b'), pixelPath(keyring, ref));
      }
      const before = metricValue((await httpRequest({ port: stack!.collector.ports.ops!, path: '/metrics' })).body.toString(), 'winnow_collector_events_accepted_total') ?? 0;
      let next = 0;
      const lane = async () => {
        let ok = 0;
        while (next < paths.length) {
          const path = paths[next++]!;
          const r = await httpRequest({ port: stack!.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0', 'accept-language': 'en' } });
          if (r.status === 200 || r.status === 302) ok++;
        }
        return ok;
      };
      const answered = (await Promise.all([lane(), lane(), lane(), lane()])).reduce((a, b) => a + b, 0);
      expect(answered).toBe(paths.length);
      const accepted = (metricValue((await httpRequest({ port: stack!.collector.ports.ops!, path: '/metrics' })).body.toString(), 'winnow_collector_events_accepted_total') ?? 0) - before;
      expect(accepted).toBe(paths.length);
      const all = await eventually(
        async () => (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'mongo-load', policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!.all!,
        (a) => Number(a.opens) + Number(a.clicks) >= answered,
        60_000,
        250,
      );
      expect(Number(all.opens) + Number(all.clicks)).toBe(answered);
      const c = new MongoClient(url!);
      try {
        expect(await c.db(database).collection('events').countDocuments({ tenant: DEMO_TENANT, campaign: 'mongo-load' })).toBe(answered);
      } finally {
        await c.close();
      }
    } finally {
      closeClient(config);
      closeClient(stats);
    }
  }, 90_000);
});
