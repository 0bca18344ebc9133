import { afterAll, describe, expect, it } from 'vitest';
import { closeClient, createClient } from '@winnow/grpc';
import { ConfigService, LinkRole, PolicyMode, Source, StatsService } from '@winnow/proto';
import { clickPath, keyringOf } from '@winnow/tokens';
import { eventually, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

const CHROME = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36', 'accept-language': 'en-US', 'sec-fetch-mode': 'navigate', 'sec-fetch-user': '?1' };

describe('a burst seen later withdraws an earlier click', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.stop();
    if (stack) removeDir(stack.dataDir);
  });

  it('revises the stored verdict and the reported numbers follow', async () => {
    stack = await startStack({ WINNOW_TRUSTED_PROXIES: 'loopback' });
    const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    try {
      const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
      const msg = { tenant: DEMO_TENANT, campaign: 'rev', message: 'm1', sentAtUnixS: String(Math.floor(Date.now() / 1000) - 3600), links: 3 };
      const hit = (link: number, role: LinkRole) =>
        httpRequest({ port: stack!.collector.ports.http!, path: clickPath(keyring, msg, link, role, 'https://clinic.example/x'), host: DEMO_HOSTNAME, headers: { ...CHROME, 'x-forwarded-for': '192.0.2.77' } });
      const reported = async () => (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'rev', policyMode: PolicyMode.UNSPECIFIED })).stats!.reported!;

      expect((await hit(0, LinkRole.CONTENT)).status).toBe(302);
      await eventually(reported, (r) => r.clicks === '1');
      // The same address then follows the other link and the hidden trap link.
      await hit(1, LinkRole.CONTENT);
      await hit(2, LinkRole.HONEYPOT);
      const after = await eventually(reported, (r) => r.clicks === '0');
      expect(after.uniqueClicks).toBe('0');
      const timeline = (await stats.getMessageTimeline({ tenant: DEMO_TENANT, message: 'm1' })).timeline!;
      const first = timeline.events[0]!;
      expect(first.verdict).toMatchObject({ revision: 1, source: Source.SECURITY_SCANNER });
      expect(first.verdict!.reasons.join(' ')).toMatch(/trap/);
      const all = (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'rev', policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!.all!;
      expect(all.clicks).toBe('3');
    } finally {
      closeClient(config);
      closeClient(stats);
    }
  });
});
