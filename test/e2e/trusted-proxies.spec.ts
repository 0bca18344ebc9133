import { afterAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

// Every request here comes from 127.0.0.1. With nothing trusted (the default) that is the client's
// address whatever the forwarding headers say; with loopback trusted, X-Forwarded-For is walked from
// the right and the first untrusted hop is the client, so a forged leftmost entry is never believed,
// and `Forwarded` is never read. What is kept of the address is its /24 (and a keyed hash).
const FIREFOX = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0', 'accept-language': 'en' };

async function storedPrefix(stack: Stack, message: string, headers: Record<string, string>): Promise<string> {
  const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
  const stats: ClientOf<typeof StatsService> = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
  try {
    const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
    const path = pixelPath(keyring, { tenant: DEMO_TENANT, campaign: 'proxies', message, sentAtUnixS: String(Math.floor(Date.now() / 1000) - 600), links: 1 });
    expect((await httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { ...FIREFOX, ...headers } })).status).toBe(200);
    const timeline = await eventually(
      async () => (await stats.getMessageTimeline({ tenant: DEMO_TENANT, message }).catch(() => undefined))?.timeline,
      (t) => (t?.events.length ?? 0) > 0,
      10_000,
    );
    return timeline!.events[0]!.evidence!.addressPrefix;
  } finally {
    closeClient(config);
    closeClient(stats);
  }
}

describe('the client address, through trusted and untrusted peers', () => {
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const s of stacks) {
      await s.stop();
      removeDir(s.dataDir);
    }
  });

  it('believes no forwarding header from a peer nobody named (the default)', async () => {
    const stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    stacks.push(stack);
    expect(await storedPrefix(stack, 'untrusted-xff', { 'x-forwarded-for': '203.0.113.9' })).toBe('127.0.0.0/24');
    expect(await storedPrefix(stack, 'untrusted-fwd', { forwarded: 'for=198.51.100.7;proto=https' })).toBe('127.0.0.0/24');
  });

  it('walks X-Forwarded-For through trusted hops only; a forged leftmost entry and Forwarded are ignored', async () => {
    const stack = await startStack({ WINNOW_LOG_LEVEL: 'error', WINNOW_TRUSTED_PROXIES: 'loopback' });
    stacks.push(stack);
    expect(await storedPrefix(stack, 'trusted-xff', { 'x-forwarded-for': '203.0.113.9' })).toBe('203.0.113.0/24');
    // The client forged 198.51.100.66; the trusted proxy appended the address it saw.
    expect(await storedPrefix(stack, 'trusted-forged', { 'x-forwarded-for': '198.51.100.66, 203.0.113.10' })).toBe('203.0.113.0/24');
    expect(await storedPrefix(stack, 'trusted-fwd', { forwarded: 'for=198.51.100.7' })).toBe('127.0.0.0/24');
  });

  it('counts hops when told a number: two proxies in front, the third address from the right is the client', async () => {
    const stack = await startStack({ WINNOW_LOG_LEVEL: 'error', WINNOW_TRUSTED_PROXIES: '2' });
    stacks.push(stack);
    expect(await storedPrefix(stack, 'hops', { 'x-forwarded-for': '198.51.100.66, 203.0.113.11, 10.0.0.5' })).toBe('203.0.113.0/24');
  });
});
