import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, LinkRole, PolicyMode, Source, StatsService } from '@winnow/proto';
import { clickPath, keyringOf, pixelPath, type Keyring } from '@winnow/tokens';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

const CAMPAIGN = 'flu-shots-2026';
const SENT_S = Math.floor(Date.now() / 1000) - 120;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0';
const BROWSER_HEADERS = { 'user-agent': FIREFOX, 'accept-language': 'en-US,en;q=0.8', 'sec-fetch-mode': 'navigate', 'sec-fetch-user': '?1' };
const SCANNER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36';

describe('walking skeleton: collector -> classifier -> stats over real HTTP and gRPC', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;
  let config: ClientOf<typeof ConfigService>;
  let keyring: Keyring;

  const msg = (message: string) => ({ tenant: DEMO_TENANT, campaign: CAMPAIGN, message, sentAtUnixS: String(SENT_S), links: 2 });
  const hit = (path: string, headers: Record<string, string>, method = 'GET', host = DEMO_HOSTNAME) =>
    httpRequest({ port: stack.collector.ports.http!, path, host, method, headers });
  const campaignStats = async (policyMode = PolicyMode.UNSPECIFIED) =>
    (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: CAMPAIGN, policyMode })).stats!;

  beforeAll(async () => {
    stack = await startStack();
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME);
    if (!domain) throw new Error('demo tracking domain was not seeded');
    keyring = keyringOf(domain);
  });

  afterAll(async () => {
    closeClient(stats);
    closeClient(config);
    await stack?.stop();
    if (stack) removeDir(stack.dataDir);
  });

  it('serves pixels and redirects, classifies every request and reports with automated events suppressed and included', async () => {
    const delivered = await stats.recordDeliveries({
      deliveries: ['m1', 'm2', 'm3', 'm4'].map((message) => ({ tenant: DEMO_TENANT, campaign: CAMPAIGN, message, deliveredAtUnixMs: String(SENT_S * 1000), links: 2 })),
    });
    expect(delivered.recorded).toBe('4');

    // m1: Apple Mail Privacy Protection prefetches the pixel.
    const mpp = await hit(pixelPath(keyring, msg('m1')), { 'user-agent': 'Mozilla/5.0' });
    expect(mpp.status).toBe(200);
    expect(mpp.headers['content-type']).toBe('image/gif');
    expect(mpp.headers['cache-control']).toContain('no-store');
    expect(mpp.body.length).toBe(43);
    expect(mpp.body.subarray(0, 6).toString('latin1')).toBe('GIF89a');

    // m2: a person opens and clicks in Firefox.
    expect((await hit(pixelPath(keyring, msg('m2')), BROWSER_HEADERS)).status).toBe(200);
    const click = await hit(clickPath(keyring, msg('m2'), 0, LinkRole.CONTENT, 'https://clinic.example/book?slot=9'), BROWSER_HEADERS);
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe('https://clinic.example/book?slot=9');

    // m3: a security gateway probes with HEAD, then follows the hidden trap link.
    const head = await hit(clickPath(keyring, msg('m3'), 0, LinkRole.CONTENT, 'https://clinic.example/a'), { 'user-agent': SCANNER_UA }, 'HEAD');
    expect(head.status).toBe(302);
    expect((await hit(clickPath(keyring, msg('m3'), 1, LinkRole.HONEYPOT, 'https://clinic.example/trap'), { 'user-agent': SCANNER_UA })).status).toBe(302);

    // m4: Gmail's image proxy fetches when the person opens: a human open.
    await hit(pixelPath(keyring, msg('m4')), { 'user-agent': 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)' });

    const all = await eventually(
      () => campaignStats(PolicyMode.INCLUDE_AUTOMATED),
      (s) => s.all!.opens === '3' && s.all!.clicks === '2',
    );
    expect(all.delivered).toBe('4');
    // Everything included: 3 opens, the person's click and the trap GET (the HEAD is logged, never counted).
    expect(all.reported).toMatchObject({ opens: '3', uniqueOpens: '4', clicks: '2', uniqueClicks: '2' });

    const reported = await campaignStats();
    // Tenant default: every automated event suppressed.
    expect(reported.reported).toMatchObject({ opens: '2', uniqueOpens: '2', clicks: '1', uniqueClicks: '1' });
    expect(reported.reported!.openRate).toBeCloseTo(0.5);
    expect(reported.reported!.clickToOpenRate).toBeCloseTo(0.5);
    expect(reported.human).toMatchObject(reported.reported!);
    const bySource = Object.fromEntries(reported.automatedBySource.map((s) => [Source[s.source], s.figures]));
    expect(bySource['APPLE_MPP']).toMatchObject({ opens: '1', uniqueOpens: '1' });
    expect(bySource['SECURITY_SCANNER']).toMatchObject({ clicks: '1', uniqueClicks: '1' });
    expect(reported.appliedPolicy!.suppressedOpenSources).toContain(Source.APPLE_MPP);

    const timeline = (await stats.getMessageTimeline({ tenant: DEMO_TENANT, message: 'm3' })).timeline!;
    expect(timeline.events.map((e) => [e.event!.method, Source[e.verdict!.source]])).toEqual([
      ['HEAD', 'SECURITY_SCANNER'],
      ['GET', 'SECURITY_SCANNER'],
    ]);
    expect(timeline.events[1]!.verdict!.reasons.join(' ')).toMatch(/trap/);
    // What is kept of the request is its evidence: the rule headers, the network, a keyed address.
    expect(timeline.events[0]!.evidence!.headers['user-agent']).toBe(SCANNER_UA);
    expect(timeline.events[0]!.event!.ip).toBe('');
    expect(timeline.events[0]!.event!.headers).toEqual({});
    expect(timeline.events[0]!.evidence!.addressKey).toMatch(/^[0-9a-f]{32}$/);
  });

  it('applies a policy changed after the fact to all history at the next query, and serves time series', async () => {
    // Count Apple prefetches again, keep every other automated source out.
    await config.putSuppressionPolicy({
      policy: { tenant: DEMO_TENANT, opens: { sources: [Source.GMAIL_PREFETCH, Source.SECURITY_SCANNER, Source.BOT, Source.LINK_PREVIEW, Source.YAHOO_PROXY, Source.CLIENT_HELPER] }, clicks: { allAutomated: true } },
    });
    const s = await campaignStats();
    expect(s.reported).toMatchObject({ opens: '3', uniqueOpens: '3', clicks: '1' });
    expect(s.appliedPolicy!.suppressedOpenSources).not.toContain(Source.APPLE_MPP);
    expect(s.human).toMatchObject({ opens: '2' });
    // An override still wins for one query.
    expect((await campaignStats(PolicyMode.EXCLUDE_AUTOMATED)).reported).toMatchObject({ opens: '2' });
    await config.putSuppressionPolicy({ policy: { tenant: DEMO_TENANT, opens: { allAutomated: true }, clicks: { allAutomated: true } } });
    const hourly = (await stats.getTimeSeries({ tenant: DEMO_TENANT, campaign: CAMPAIGN, granularity: 1, policyMode: PolicyMode.UNSPECIFIED })).series!;
    const total = (k: 'opens' | 'clicks' | 'automatedOpens' | 'automatedClicks') => hourly.points.reduce((n, p) => n + Number(p[k]), 0);
    expect([total('opens'), total('clicks'), total('automatedOpens'), total('automatedClicks')]).toEqual([2, 1, 1, 1]);
    const daily = (await stats.getTimeSeries({ tenant: DEMO_TENANT, campaign: CAMPAIGN, granularity: 2 })).series!;
    // One day's bucket, or two when the hits straddle midnight UTC; the totals are the hourly ones.
    expect(daily.points.length).toBeGreaterThanOrEqual(1);
    expect(daily.points.length).toBeLessThanOrEqual(2);
    for (const p of daily.points) expect(Number(p.bucketStartUnixMs) % 86_400_000).toBe(0);
    expect(daily.points.reduce((n, p) => n + Number(p.opens), 0)).toBe(total('opens'));
  });

  it('records nothing for unknown hosts and refused tokens', async () => {
    const before = await campaignStats(PolicyMode.INCLUDE_AUTOMATED);
    const pixel = pixelPath(keyring, msg('m1'));
    expect((await hit(pixel, { 'user-agent': FIREFOX }, 'GET', 'unknown.example')).status).toBe(404);
    const forged = await hit('/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.gif', { 'user-agent': FIREFOX });
    expect(forged.status).toBe(200);
    expect(forged.body.length).toBe(43);
    expect((await hit('/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?url=https://evil.example', BROWSER_HEADERS)).status).toBe(404);
    // A pixel token on the link path is not a redirect.
    expect((await hit(pixel.replace('/o/', '/c/').replace('.gif', ''), BROWSER_HEADERS)).status).toBe(404);
    // A genuine link token whose sealed target is no absolute http(s) URL is never a redirect either.
    for (const target of ['javascript:alert(1)', '/relative/path']) expect((await hit(clickPath(keyring, msg('m1'), 0, LinkRole.CONTENT, target), BROWSER_HEADERS)).status).toBe(404);
    expect((await hit(pixel, BROWSER_HEADERS, 'POST')).status).toBe(405);
    // Let any (wrongly) queued event reach the store before comparing.
    await new Promise((ok) => setTimeout(ok, 300));
    expect((await campaignStats(PolicyMode.INCLUDE_AUTOMATED)).all).toEqual(before.all);
    const metrics = (await httpRequest({ port: stack.collector.ports.ops!, path: '/metrics' })).body.toString();
    expect(metricValue(metrics, 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'unsupported_version' })).toBe(1);
    expect(metricValue(metrics, 'winnow_collector_tokens_rejected_total', { route: 'click', reason: 'unsupported_version' })).toBe(1);
    expect(metricValue(metrics, 'winnow_collector_tokens_rejected_total', { route: 'click', reason: 'wrong_kind' })).toBe(1);
    expect(metricValue(metrics, 'winnow_collector_tokens_rejected_total', { route: 'click', reason: 'bad_target' })).toBe(2);
    expect(metricValue(metrics, 'winnow_collector_requests_total', { route: 'pixel', method: 'GET', status: '404' })).toBe(1);
  });

  it('redirects to a target holding characters no header may carry, percent-encoded, and keeps serving (found by probing)', async () => {
    // Before, Node refused the raw `€` in the Location, the throw escaped the spool's write and the collector exited.
    const before = await campaignStats(PolicyMode.INCLUDE_AUTOMATED);
    const click = await hit(clickPath(keyring, msg('m2'), 0, LinkRole.CONTENT, 'https://clinic.example/angebot-5€\n?kurs=✓'), BROWSER_HEADERS);
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe('https://clinic.example/angebot-5%E2%82%AC?kurs=%E2%9C%93');
    expect((await hit(pixelPath(keyring, msg('m2')), BROWSER_HEADERS)).status).toBe(200);
    const after = await eventually(
      () => campaignStats(PolicyMode.INCLUDE_AUTOMATED),
      (s) => Number(s.all!.clicks) === Number(before.all!.clicks) + 1 && Number(s.all!.opens) === Number(before.all!.opens) + 1,
    );
    expect(Number(after.all!.clicks)).toBe(Number(before.all!.clicks) + 1);
  });

  it('exposes /healthz, /readyz and /metrics on every service', async () => {
    const ports = [stack.collector.ports.ops!, stack.classifier.ports.http!, stack.stats.ports.http!];
    for (const port of ports) {
      expect((await httpRequest({ port, path: '/healthz' })).status).toBe(200);
      const ready = await httpRequest({ port, path: '/readyz' });
      expect(ready.status, ready.body.toString()).toBe(200);
      const metrics = await httpRequest({ port, path: '/metrics' });
      expect(metrics.status).toBe(200);
      expect(metrics.body.toString()).toContain('winnow_process_cpu_user_seconds_total');
    }
    const statsMetrics = (await httpRequest({ port: stack.stats.ports.http!, path: '/metrics' })).body.toString();
    expect(metricValue(statsMetrics, 'winnow_grpc_server_duration_seconds_count', { method: 'StatsService.IngestEvents', code: 'ok' })).toBeGreaterThan(0);
    expect(metricValue(statsMetrics, 'winnow_verdicts_total', { source: 'human' })).toBeGreaterThan(0);
    expect(metricValue(statsMetrics, 'winnow_history_rebuilds_total')).toBeGreaterThan(0);
  });
});
