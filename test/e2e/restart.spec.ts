import { afterAll, describe, expect, it } from 'vitest';
import { closeClient, createClient } from '@winnow/grpc';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

describe('embedded store across a restart', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.stop();
    if (stack) removeDir(stack.dataDir);
  });

  it('keeps events, counters and the demo tenant key when the whole stack restarts', async () => {
    stack = await startStack();
    const dataDir = stack.dataDir;
    let config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!;
    closeClient(config);
    const path = pixelPath(keyringOf(domain), { tenant: DEMO_TENANT, campaign: 'c', message: 'm1', sentAtUnixS: String(Math.floor(Date.now() / 1000)), links: 1 });
    await httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0' } });
    let stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    await eventually(() => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'c', policyMode: PolicyMode.INCLUDE_AUTOMATED }), (r) => r.stats!.all!.opens === '1');
    closeClient(stats);
    await stack.stop();

    stack = await startStack({}, dataDir);
    config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const again = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!;
    closeClient(config);
    expect(Buffer.from(again.keys[0]!.secret).equals(Buffer.from(domain.keys[0]!.secret))).toBe(true);
    // The same token still works after the restart, and the old event is still counted.
    await httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0' } });
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    const r = await eventually(() => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'c', policyMode: PolicyMode.INCLUDE_AUTOMATED }), (x) => x.stats!.all!.opens === '2');
    expect(r.stats!.all!.uniqueOpens).toBe('1');
    closeClient(stats);
  });
});
