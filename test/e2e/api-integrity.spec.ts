import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { Actor, ApiKeyScope, ConfigService, EventKind, Granularity, LinkRole, PolicyMode, Source, StatsService } from '@winnow/proto';
import { removeDir, startStack, type Stack } from '../support/stack';

// Defects an integrator found by probing the gRPC API (2026-12-01), each shown against the real
// stack on the embedded store: figures that could be made wrong, records left after erasure, one
// tenant's dead letters read with another's key, keys that outlived their issuer, and the
// RecordEvents path storing what the privacy notes say is never kept.
const T = Date.parse('2026-11-30T09:00:00Z');
let n = 0;
const ev = (tenant: string, campaign: string, message: string, over: { id?: string; kind?: EventKind; source?: Source; revision?: number; link?: number; at?: string; ip?: string; headers?: Record<string, string> } = {}) => {
  const id = over.id ?? `ai${++n}`;
  const source = over.source ?? Source.HUMAN;
  const kind = over.kind ?? EventKind.OPEN;
  return {
    event: {
      id,
      tenant,
      campaign,
      message,
      kind,
      linkIndex: over.link ?? 0,
      linkRole: kind === EventKind.CLICK ? LinkRole.CONTENT : LinkRole.UNSPECIFIED,
      method: 'GET',
      atUnixMs: over.at ?? String(T + n * 1000),
      ip: over.ip ?? '',
      headers: over.headers ?? {},
    },
    verdict: { eventId: id, actor: source === Source.HUMAN ? Actor.HUMAN : Actor.AUTOMATED, source, confidence: 0.9, reasons: ['test'], rulesetVersion: 't', revision: over.revision ?? 0 },
  };
};
const delivery = (tenant: string, campaign: string, message: string) => ({ tenant, campaign, message, deliveredAtUnixMs: String(T - 60_000), links: 2 });

describe('the gRPC API keeps its figures, its tenants and its privacy promises under hostile calls', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;
  let config: ClientOf<typeof ConfigService>;
  const figures = async (tenant: string, campaign: string) => (await stats.getCampaignStats({ tenant, campaign, policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!;

  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error', WINNOW_EVENT_RETENTION_DAYS: '0' });
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
  });
  afterAll(async () => {
    closeClient(stats);
    closeClient(config);
    await stack.stop();
    removeDir(stack.dataDir);
  });

  it("never hands one tenant's dead letters to another through a page token", async () => {
    // An event with no evidence is kept as a dead letter of its tenant.
    await stats.ingestEvents({ events: [{ event: ev('ta', 'secret-campaign', 'patient-123-results').event }] });
    await stats.ingestEvents({ events: [{ event: ev('ta', 'secret-campaign', 'patient-456-results').event }] });
    expect((await stats.listDeadLetters({ tenant: 'ta' })).deadLetters).toHaveLength(2);
    const tzKey = (await config.createApiKey({ tenant: 'tz', scopes: [ApiKeyScope.READ] })).key;
    const tz = createClient(StatsService, stack.statsAddress, { metadata: bearer(tzKey) });
    try {
      const forged = Buffer.from(JSON.stringify(['', ''])).toString('base64url');
      await expect(tz.listDeadLetters({ tenant: 'tz', pageToken: forged })).rejects.toMatchObject({ code: 'invalid_argument' });
      const genuine = (await stats.listDeadLetters({ tenant: 'ta', pageSize: 1 })).nextPageToken;
      expect(genuine).not.toBe('');
      await expect(tz.listDeadLetters({ tenant: 'tz', pageToken: genuine })).rejects.toMatchObject({ code: 'invalid_argument' });
      expect((await tz.listDeadLetters({ tenant: 'tz' })).deadLetters).toEqual([]);
    } finally {
      closeClient(tz);
    }
  });

  it('erases names that begin with any character, an emoji included', async () => {
    await stats.recordDeliveries({ deliveries: [delivery('te', 'c1', '😀m1'), delivery('te', 'c1', 'plain')] });
    await stats.recordEvents({ events: [ev('te', 'c1', '😀m1', { id: '😀e1' }), ev('te', 'c1', 'plain', { id: 'e-plain' })] });
    expect(await stats.erase({ tenant: 'te', campaign: 'c1' })).toMatchObject({ events: '2', messages: '2' });
    await expect(stats.getMessageTimeline({ tenant: 'te', message: '😀m1' })).rejects.toMatchObject({ code: 'not_found' });
    expect((await stats.listEvents({ filter: { tenant: 'te' } })).events).toEqual([]);
  });

  it('does not count the delivery of an erased message again', async () => {
    await stats.recordDeliveries({ deliveries: ['m1', 'm2', 'm3'].map((m) => delivery('tr', 'a', m)) });
    expect((await figures('tr', 'a')).delivered).toBe('3');
    await stats.erase({ tenant: 'tr', message: 'm2' });
    expect(await stats.recordDeliveries({ deliveries: [delivery('tr', 'a', 'm2')] })).toMatchObject({ recorded: '0' });
    expect((await figures('tr', 'a')).delivered).toBe('3');
  });

  it('refuses an event or a delivery that puts a message in a second campaign, and a revision naming another message', async () => {
    await stats.recordDeliveries({ deliveries: [delivery('tc', 'A', 'm1'), delivery('tc', 'B', 'm2')] });
    await expect(stats.recordEvents({ events: [ev('tc', 'B', 'm1', { kind: EventKind.CLICK })] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/belongs to campaign A/) });
    await expect(stats.recordDeliveries({ deliveries: [delivery('tc', 'B', 'm1')] })).rejects.toMatchObject({ code: 'invalid_argument' });
    await stats.recordEvents({ events: [ev('tc', 'A', 'm1', { id: 'X' }), ev('tc', 'B', 'm2', { id: 'Y' })] });
    const before = [await figures('tc', 'A'), await figures('tc', 'B')];
    await expect(stats.recordEvents({ events: [ev('tc', 'B', 'm2', { id: 'X', source: Source.APPLE_MPP, revision: 1 })] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/stored under message m1/) });
    expect([await figures('tc', 'A'), await figures('tc', 'B')]).toEqual(before);
    expect(before[0]!.human!.uniqueOpens).toBe('1');
  });

  it('refuses times outside 2000-2099, a negative link index and an event without a campaign, with a clear error', async () => {
    await stats.recordDeliveries({ deliveries: [delivery('tt', 'c', 'm')] });
    for (const bad of [ev('tt', 'c', 'm', { at: '1' }), ev('tt', 'c', 'm', { at: '9223372036854775807' }), ev('tt', 'c', 'm', { kind: EventKind.CLICK, link: -1 }), ev('tt', '', 'm')]) {
      await expect(stats.recordEvents({ events: [bad] })).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    await expect(stats.recordDeliveries({ deliveries: [{ ...delivery('tt', 'c', 'big'), deliveredAtUnixMs: '9223372036854775807' }] })).rejects.toMatchObject({ code: 'invalid_argument' });
    // A verdict whose actor contradicts its source would be listed as a person and counted as a bot.
    const contradicted = ev('tt', 'c', 'm', { source: Source.BOT });
    await expect(stats.recordEvents({ events: [{ ...contradicted, verdict: { ...contradicted.verdict, actor: Actor.HUMAN } }] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/contradicts/) });
    // The link report of the campaign still answers.
    expect((await stats.getLinkStats({ tenant: 'tt', campaign: 'c' })).links).toEqual([]);
  });

  it('stores evidence, not the request, on the RecordEvents path too: no address, no cookies, no oversized headers, no address as an id', async () => {
    await stats.recordDeliveries({ deliveries: [delivery('tp', 'c', 'm1')] });
    await stats.recordEvents({
      events: [ev('tp', 'c', 'm1', { ip: '203.0.113.7', headers: { cookie: 'session=abc', authorization: 'Bearer secret', from: 'alice@example.com', 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0' } })],
    });
    const stored = (await stats.getMessageTimeline({ tenant: 'tp', message: 'm1' })).timeline!.events[0]!;
    expect(stored.event!.ip).toBe('');
    expect(stored.event!.headers).toEqual({});
    expect(stored.evidence!.headers).toEqual({ 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0' });
    expect(stored.evidence!.addressPrefix).toBe('203.0.113.0/24');
    expect(JSON.stringify(stored)).not.toMatch(/203\.0\.113\.7|secret|alice/);
    await expect(stats.recordEvents({ events: [ev('tp', 'c', 'm1', { headers: { 'user-agent': 'x'.repeat(3000) } })] })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(stats.recordDeliveries({ deliveries: [delivery('tp', 'c', 'alice@example.com')] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/email address/) });
    // A tenant holding the stores' key separator could reach another tenant's keys on MongoDB.
    await expect(stats.recordDeliveries({ deliveries: [delivery('tp:x', 'c', 'm9')] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/lower-case letters/) });
    await expect(stats.recordEvents({ events: [ev('TP', 'c', 'm1')] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/lower-case letters/) });
  });

  it('does not let an expiring key issue a key that outlives it', async () => {
    const expires = Date.now() + 3_600_000;
    const admin = (await config.createApiKey({ tenant: 'tk', scopes: [ApiKeyScope.READ, ApiKeyScope.ADMIN], expiresAtUnixMs: String(expires) })).key;
    const c = createClient(ConfigService, stack.statsAddress, { metadata: bearer(admin) });
    try {
      await expect(c.createApiKey({ tenant: 'tk', scopes: [ApiKeyScope.READ] })).rejects.toMatchObject({ code: 'permission_denied' });
      await expect(c.createApiKey({ tenant: 'tk', scopes: [ApiKeyScope.READ], expiresAtUnixMs: String(expires + 1000) })).rejects.toMatchObject({ code: 'permission_denied' });
      expect((await c.createApiKey({ tenant: 'tk', scopes: [ApiKeyScope.READ], expiresAtUnixMs: String(expires - 1000) })).info!.expiresAtUnixMs).toBe(String(expires - 1000));
    } finally {
      closeClient(c);
    }
  });

  it('gives a contested hostname to one tenant only, however the calls interleave', async () => {
    for (let i = 0; i < 5; i++) {
      const hostname = `race${i}.example.com`;
      const put = (tenant: string) => config.putTrackingDomain({ domain: { hostname, tenant, keys: [{ id: 'k1', secret: randomBytes(32), sealing: true }] } }).then(
        () => 'ok',
        (err: { code: string }) => err.code,
      );
      const outcomes = await Promise.all([put('ra'), put('rb')]);
      expect(outcomes.sort()).toEqual(['already_exists', 'ok']);
    }
  });

  it('refuses a mail with more links than it tracks, at once', async () => {
    const html = `<html><body>${Array.from({ length: 1001 }, (_, i) => `<a href="https://a.example/${i}">l${i}</a>`).join('')}</body></html>`;
    const started = Date.now();
    await expect(config.prepareEmail({ tenant: 'demo-clinic', campaign: 'pc', message: 'big-1', hostname: 'demo-clinic.localhost', html, skipDelivery: true })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/at most 1000 are tracked/),
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers an unknown enum value, a reversed range and a malformed authorization with a clear error, not an empty answer', async () => {
    await expect(stats.getTimeSeries({ tenant: 'tt', campaign: 'c', granularity: 9 as Granularity })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/granularity 9/) });
    await expect(stats.getTimeSeries({ tenant: 'tt', campaign: 'c', fromUnixMs: String(T), toUnixMs: String(T - 1) })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(stats.listEvents({ filter: { tenant: 'tt', source: 99 as Source } })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/filter.source 99/) });
    await expect(stats.listEvents({ filter: { tenant: 'tt', kind: 9 as EventKind } })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(stats.listEvents({ filter: { tenant: 'tt', fromUnixMs: String(T), toUnixMs: String(T - 1) } })).rejects.toMatchObject({ code: 'invalid_argument' });
    const malformed = createClient(StatsService, stack.statsAddress, { metadata: { authorization: `Basic ${randomBytes(8).toString('hex')}` } });
    try {
      await expect(malformed.getCampaignStats({ tenant: 'tt', campaign: 'c' })).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/is not "Bearer <api key>"/) });
    } finally {
      closeClient(malformed);
    }
  });
});

