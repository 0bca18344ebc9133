import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ApiKeyScope, ConfigService, PolicyMode, Source, StatsService } from '@winnow/proto';
import { parseApiKey, sha256 } from '@winnow/tokens';
import { LmdbEventStore } from '@winnow/storage';
import { removeDir, startStack, type Stack } from '../support/stack';

const T = Date.now();
const event = (tenant: string, id: string) => ({
  event: { id, tenant, campaign: 'c', message: 'm1', kind: 1, method: 'GET', atUnixMs: String(T), headers: {} },
  verdict: { eventId: id, actor: 1, source: Source.HUMAN, confidence: 0.9, reasons: ['test'], rulesetVersion: 't' },
});

describe('tenants are kept apart (tenant-scoped API keys)', () => {
  let stack: Stack;
  let service: { stats: ClientOf<typeof StatsService>; config: ClientOf<typeof ConfigService> };
  let keyA = '';
  let keyB = '';
  const asKey = (key: string) => ({
    stats: createClient(StatsService, stack.statsAddress, { metadata: bearer(key) }),
    config: createClient(ConfigService, stack.statsAddress, { metadata: bearer(key) }),
  });
  const clients: object[] = [];
  const track = <T extends { stats: object; config: object }>(c: T) => {
    clients.push(c.stats, c.config);
    return c;
  };

  beforeAll(async () => {
    stack = await startStack();
    service = track(asKey(stack.serviceKey));
    const scopes = [ApiKeyScope.READ, ApiKeyScope.WRITE, ApiKeyScope.ADMIN];
    keyA = (await service.config.createApiKey({ tenant: 'alpha', description: 'reporting', scopes })).key;
    keyB = (await service.config.createApiKey({ tenant: 'bravo', description: 'reporting', scopes })).key;
    await service.stats.recordDeliveries({ deliveries: [{ tenant: 'alpha', campaign: 'c', message: 'm1', deliveredAtUnixMs: String(T), links: 1 }, { tenant: 'bravo', campaign: 'c', message: 'm1', deliveredAtUnixMs: String(T), links: 1 }] });
    await service.stats.recordEvents({ events: [event('alpha', 'a1'), event('bravo', 'b1')] });
  });
  afterAll(async () => {
    for (const c of clients) closeClient(c);
    await stack.stop();
    removeDir(stack.dataDir);
  });

  it('lets a tenant key read and write its own tenant only', async () => {
    const a = track(asKey(keyA));
    expect((await a.stats.getCampaignStats({ tenant: 'alpha', campaign: 'c', policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!.all!.opens).toBe('1');
    const denied = { code: 'permission_denied' };
    await expect(a.stats.getCampaignStats({ tenant: 'bravo', campaign: 'c' })).rejects.toMatchObject(denied);
    await expect(a.stats.listEvents({ filter: { tenant: 'bravo' } })).rejects.toMatchObject(denied);
    await expect(a.stats.getMessageTimeline({ tenant: 'bravo', message: 'm1' })).rejects.toMatchObject(denied);
    await expect(a.stats.getTimeSeries({ tenant: 'bravo', campaign: 'c' })).rejects.toMatchObject(denied);
    await expect(a.stats.recordEvents({ events: [event('bravo', 'sneaky')] })).rejects.toMatchObject(denied);
    // A batch naming another tenant is refused whole: nothing of it is stored.
    await expect(a.stats.recordDeliveries({ deliveries: [{ tenant: 'alpha', campaign: 'c', message: 'm2', deliveredAtUnixMs: String(T), links: 1 }, { tenant: 'bravo', campaign: 'c', message: 'm2', deliveredAtUnixMs: String(T), links: 1 }] })).rejects.toMatchObject(denied);
    expect((await service.stats.getCampaignStats({ tenant: 'alpha', campaign: 'c' })).stats!.delivered).toBe('1');
    expect((await service.stats.getCampaignStats({ tenant: 'bravo', campaign: 'c' })).stats!.delivered).toBe('1');
    await expect(a.config.putSuppressionPolicy({ policy: { tenant: 'bravo', opens: { allAutomated: true } } })).rejects.toMatchObject(denied);
    await expect(a.config.listTrackingDomains({})).rejects.toMatchObject(denied); // signing keys: services only
    await expect(a.config.createApiKey({ tenant: 'bravo' })).rejects.toMatchObject(denied);
    await expect(a.config.listApiKeys({ tenant: 'bravo' })).rejects.toMatchObject(denied);
    // Its own tenant: allowed.
    await a.stats.recordEvents({ events: [event('alpha', 'a2')] });
    await a.config.putSuppressionPolicy({ policy: { tenant: 'alpha', opens: { allAutomated: true }, clicks: { allAutomated: true } } });
    expect((await a.stats.listEvents({ filter: { tenant: 'alpha' } })).events.map((e) => e.event!.id).sort()).toEqual(['a1', 'a2']);
    const b = track(asKey(keyB));
    expect((await b.stats.listEvents({ filter: { tenant: 'bravo' } })).events.map((e) => e.event!.id)).toEqual(['b1']);
  });

  it('refuses calls without a key, with a forged key, and with a revoked key', async () => {
    const anon = track({ stats: createClient(StatsService, stack.statsAddress), config: createClient(ConfigService, stack.statsAddress) });
    await expect(anon.stats.getCampaignStats({ tenant: 'alpha', campaign: 'c' })).rejects.toMatchObject({ code: 'unauthenticated' });
    const forged = keyA.slice(0, -4) + 'AAAA';
    await expect(track(asKey(forged)).stats.getCampaignStats({ tenant: 'alpha', campaign: 'c' })).rejects.toMatchObject({ code: 'unauthenticated' });
    const temp = (await service.config.createApiKey({ tenant: 'alpha', description: 'temporary' })).key;
    const t = track(asKey(temp));
    await t.stats.getCampaignStats({ tenant: 'alpha', campaign: 'c' });
    // Revoking takes the admin scope, which this key (read and write) lacks; its tenant's admin key may.
    await expect(t.config.revokeApiKey({ keyId: parseApiKey(temp)!.keyId })).rejects.toMatchObject({ code: 'permission_denied' });
    expect((await track(asKey(keyA)).config.revokeApiKey({ keyId: parseApiKey(temp)!.keyId })).revoked).toBe(true);
    await expect(t.stats.getCampaignStats({ tenant: 'alpha', campaign: 'c' })).rejects.toMatchObject({ code: 'unauthenticated' });
    expect((await service.config.listApiKeys({ tenant: 'alpha' })).keys.map((k) => k.description)).toEqual(['reporting']);
  });

  it('stores keys hashed, never in clear', async () => {
    await stack.stop();
    const store = new LmdbEventStore(join(stack.dataDir, 'store'));
    try {
      const { keyId, secret } = parseApiKey(keyA)!;
      const stored = (await store.getApiKey(keyId))!;
      expect(Buffer.from(stored.secretSha256).equals(sha256(secret))).toBe(true);
      expect(Buffer.from(stored.secretSha256).toString('latin1')).not.toContain(secret);
    } finally {
      await store.close();
      stack = await startStack({}, stack.dataDir); // for afterAll
    }
  });
});
