import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { Actor, EventKind, LinkRole, PolicyMode, Source, StatsService } from '@winnow/proto';
import { removeDir, startStack, type Stack } from '../support/stack';

// Per-link, unsubscribe and per-source figures, and a policy previewed before it is set, over the
// real gRPC API on the embedded store. The events carry their verdicts (RecordEvents), so the
// expected figures are known exactly.
const T = Date.parse('2026-11-30T09:00:00Z');
const { HUMAN, APPLE_MPP, GMAIL_PREFETCH, SECURITY_SCANNER, BOT } = Source;
let n = 0;
const ev = (message: string, kind: EventKind, source: Source, over: { link?: number; role?: LinkRole; method?: string; atMs?: number } = {}) => {
  const id = `e${++n}`;
  return {
    event: {
      id,
      tenant: 'figures',
      campaign: 'results',
      message,
      kind,
      linkIndex: over.link ?? 0,
      linkRole: kind === EventKind.CLICK ? (over.role ?? LinkRole.CONTENT) : LinkRole.UNSPECIFIED,
      method: over.method ?? 'GET',
      atUnixMs: String(over.atMs ?? T + n * 60_000),
      headers: {},
    },
    verdict: { eventId: id, actor: source === HUMAN ? Actor.HUMAN : Actor.AUTOMATED, source, confidence: 0.9, reasons: ['test'], rulesetVersion: 't' },
  };
};

describe('campaign figures: per link, unsubscribe apart, by source, under an explicit policy', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;

  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    await stats.recordDeliveries({ deliveries: ['m1', 'm2', 'm3', 'm4'].map((message) => ({ tenant: 'figures', campaign: 'results', message, deliveredAtUnixMs: String(T), links: 3 })) });
    const { OPEN, CLICK } = EventKind;
    await stats.recordEvents({
      events: [
        ev('m1', OPEN, HUMAN),
        ev('m2', OPEN, APPLE_MPP),
        ev('m3', OPEN, GMAIL_PREFETCH),
        ev('m1', CLICK, HUMAN),
        ev('m1', CLICK, HUMAN, { atMs: T + 2 * 3_600_000 }),
        ev('m2', CLICK, SECURITY_SCANNER),
        ev('m2', CLICK, SECURITY_SCANNER, { method: 'HEAD' }), // never counted
        ev('m3', CLICK, HUMAN, { link: 1, role: LinkRole.UNSUBSCRIBE }),
        ev('m4', CLICK, BOT, { link: 2, role: LinkRole.HONEYPOT }), // the trap: never a row
      ],
    });
  });
  afterAll(async () => {
    closeClient(stats);
    await stack.stop();
    removeDir(stack.dataDir);
  });

  it('previews a policy: only the sources named are left out, for opens and clicks apart', async () => {
    const preview = await stats.getCampaignStats({ tenant: 'figures', campaign: 'results', policyMode: PolicyMode.EXPLICIT, explicitPolicy: { leaveOutOpens: [APPLE_MPP], leaveOutClicks: [] } });
    const all = await stats.getCampaignStats({ tenant: 'figures', campaign: 'results', policyMode: PolicyMode.INCLUDE_AUTOMATED });
    expect(preview.stats!.reported).toMatchObject({ opens: '2', clicks: all.stats!.all!.clicks });
    expect(preview.stats!.human!.opens).toBe('1');
    expect(preview.stats!.appliedPolicy).toMatchObject({ mode: PolicyMode.EXPLICIT, suppressedOpenSources: [APPLE_MPP], suppressedClickSources: [] });
    await expect(
      stats.getCampaignStats({ tenant: 'figures', campaign: 'results', policyMode: PolicyMode.EXPLICIT, explicitPolicy: { leaveOutOpens: [HUMAN] } }),
    ).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/people are never left out/) });
    await expect(stats.getCampaignStats({ tenant: 'figures', campaign: 'results', explicitPolicy: { leaveOutOpens: [APPLE_MPP] } })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it("estimates the people's open rate where Apple's prefetch hides it", async () => {
    const e = (await stats.getCampaignStats({ tenant: 'figures', campaign: 'results' })).stats!.estimatedHumanOpenRate!;
    // m2's opens are hidden; m1 and m3 were seen opening (m3 by its click); m4 only by a trap hit.
    expect(e).toMatchObject({ hiddenShare: 0.25, observedRate: 0.5 });
    expect(e.low).toBeGreaterThanOrEqual(0.5);
    expect(e.high).toBeGreaterThanOrEqual(e.rate);
  });

  it('reports clicks and unique clickers per link, people and machines apart, the unsubscribe link apart', async () => {
    const tenantPolicy = await stats.getLinkStats({ tenant: 'figures', campaign: 'results' });
    expect(tenantPolicy.links.map((l) => [l.link, l.role, l.clicks, l.uniqueClickers, l.humanClicks, l.humanUniqueClickers, l.automatedClicks, l.automatedUniqueClickers])).toEqual([
      [0, LinkRole.CONTENT, '2', '1', '2', '1', '1', '1'],
      [1, LinkRole.UNSUBSCRIBE, '1', '1', '1', '1', '0', '0'],
    ]);
    expect(tenantPolicy.links[0]!.automatedBySource).toEqual([expect.objectContaining({ source: SECURITY_SCANNER, count: '1' })]);
    expect(tenantPolicy).toMatchObject({ contentClicks: '2', contentUniqueClickers: '1', unsubscribeClicks: '1', unsubscribeUniqueClickers: '1', eventsRead: '6' });
    const everything = await stats.getLinkStats({ tenant: 'figures', campaign: 'results', policyMode: PolicyMode.INCLUDE_AUTOMATED });
    expect(everything.links[0]).toMatchObject({ clicks: '3', uniqueClickers: '2' });
    expect(everything.contentClicks).toBe('3');
  });

  it('splits the time series by source, whatever the policy', async () => {
    const series = (await stats.getTimeSeries({ tenant: 'figures', campaign: 'results' })).series!;
    const first = series.points.find((p) => p.bucketStartUnixMs === String(T))!;
    expect(first.opensBySource.map((c) => [c.source, c.count])).toEqual([[HUMAN, '1'], [APPLE_MPP, '1'], [GMAIL_PREFETCH, '1']]);
    expect(first.opens).toBe('1'); // the tenant's default policy leaves automated opens out
    const later = series.points.find((p) => p.bucketStartUnixMs === String(T + 2 * 3_600_000))!;
    expect(later.clicksBySource.map((c) => [c.source, c.count])).toEqual([[HUMAN, '1']]);
  });
});
