import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, PolicyMode, Source, StatsService } from '@winnow/proto';
import { eventually, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';
import { runCli } from '../support/serve';

// `winnow report` opened in a real headless Chromium (Debian `chromium`, driven by playwright-core):
// what it shows is what the API answers, and it loads nothing from anywhere.
const CHROMIUM = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env['CI'] !== 'true') process.stderr.write(`NOTICE: ${CHROMIUM} not found; the report test in a browser is skipped (.ci/run installs Debian chromium)\n`);

const PEOPLE = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
];
const HTML = '<html><body><p>Your appointment on Tuesday: <a href="https://portal.clinic.example/appointments">details</a>. <a href="https://portal.clinic.example/directions">Directions</a>.</p><p><a href="https://clinic.example/unsubscribe">Unsubscribe</a></p></body></html>';

describe.runIf(available || process.env['CI'] === 'true')('winnow report in a real browser', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'winnow-report-'));
  const out = join(dir, 'report.html');

  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    const get = (path: string, headers: Record<string, string>) => httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers });
    let requests = 0;
    for (let i = 0; i < 12; i++) {
      const html = (await config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'appointments', message: `a-${i}`, hostname: DEMO_HOSTNAME, html: HTML, baseUrl: `http://${DEMO_HOSTNAME}` })).html;
      const pixel = /<img src="http:\/\/demo-clinic\.localhost(\/o\/[^"]+)"/.exec(html)![1]!;
      const links = [...html.matchAll(/<a href="http:\/\/demo-clinic\.localhost(\/c\/[^"]+)">(details|Directions|Unsubscribe)/g)].map((m) => m[1]!);
      // A person reads and clicks; a machine fetches the pixel and every link of some messages.
      await get(pixel, { 'user-agent': PEOPLE[i % 3]!, 'accept-language': 'en-US' });
      requests++;
      if (i % 3 === 0) {
        await get(links[0]!, { 'user-agent': PEOPLE[i % 3]!, 'accept-language': 'en-US', 'sec-fetch-mode': 'navigate', 'sec-fetch-user': '?1' });
        requests++;
      }
      if (i === 4) {
        await get(links[2]!, { 'user-agent': PEOPLE[1]!, 'accept-language': 'en-US', 'sec-fetch-mode': 'navigate', 'sec-fetch-user': '?1' });
        requests++;
      }
      if (i % 4 === 1) {
        for (const l of links) await get(l, { 'user-agent': 'python-requests/2.32.3' });
        requests += links.length;
      }
    }
    closeClient(config);
    await eventually(
      () => stats.listEvents({ filter: { tenant: DEMO_TENANT, campaign: 'appointments' }, pageSize: 1000 }),
      (p) => p.events.length === requests,
      15_000,
    );
    const r = await runCli(['report', 'appointments', '--tenant', DEMO_TENANT, '--out', out, '--stats', stack.statsAddress], '', { WINNOW_SERVICE_KEY: stack.serviceKey });
    expect(r.status, r.stderr).toBe(0);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    closeClient(stats);
    await stack.stop();
    removeDir(stack.dataDir);
    removeDir(dir);
  });

  it('is one file that loads nothing else: no script, no external style, font or image', async () => {
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<script|<link |@import|url\(|src="http/i);
    const page = await browser.newPage();
    const fetched: string[] = [];
    page.on('request', (req) => fetched.push(req.url()));
    await page.goto(`file://${out}`);
    expect(fetched).toEqual([`file://${out}`]);
    await page.close();
  });

  it('shows the figures the API gives: rates as reported and for people, every link, the policy, the evidence', async () => {
    const s = (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'appointments' })).stats!;
    const links = await stats.getLinkStats({ tenant: DEMO_TENANT, campaign: 'appointments' });
    const page = await browser.newPage({ viewport: { width: 900, height: 1400 } });
    await page.goto(`file://${out}`);
    const shown = async (figure: string) => (await page.locator(`[data-figure="${figure}"]`).first().textContent())?.trim();
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    expect(await shown('delivered')).toBe('12');
    for (const [key, f] of [['reported', s.reported!], ['human', s.human!], ['all', s.all!]] as const) {
      expect(await shown(`${key}-opens`)).toBe(Number(f.opens).toLocaleString('en-US'));
      expect(await shown(`${key}-unique-clicks`)).toBe(Number(f.uniqueClicks).toLocaleString('en-US'));
      expect(await shown(`${key}-open-rate`)).toBe(pct(f.openRate));
      expect(await shown(`${key}-click-to-open`)).toBe(pct(f.clickToOpenRate));
    }
    expect(await shown('card-human-open-rate')).toBe(pct(s.human!.openRate));
    expect(links.links.length).toBeGreaterThanOrEqual(3);
    for (const l of links.links) {
      expect(await shown(`link-${l.link}-human-clicks`)).toBe(l.humanClicks);
      expect(await shown(`link-${l.link}-automated-clicks`)).toBe(l.automatedClicks);
    }
    expect(await page.locator('tr.unsubscribe').count()).toBe(1);
    expect(await shown('unsubscribe-clicks')).toBe(links.unsubscribeClicks);
    const names = (x: Source[]) => x.map((v) => Source[v]!.toLowerCase().replace(/_/g, ' ')).join(', ') || 'nothing';
    expect(await shown('policy-opens')).toBe(names(s.appliedPolicy!.suppressedOpenSources));
    expect(await shown('policy-clicks')).toBe(names(s.appliedPolicy!.suppressedClickSources));
    expect(Number(s.all!.clicks)).toBeGreaterThan(Number(s.human!.clicks)); // the script's clicks are there
    expect(await page.locator('#evidence tbody tr').count()).toBeGreaterThan(0);
    // The charts add up to the events over time, people and machines.
    const series = (await stats.getTimeSeries({ tenant: DEMO_TENANT, campaign: 'appointments', policyMode: PolicyMode.INCLUDE_AUTOMATED })).series!;
    const opens = series.points.reduce((n, p) => n + p.opensBySource.reduce((m, c) => m + Number(c.count), 0), 0);
    expect(Number(await page.locator('#opens-chart svg').getAttribute('data-total'))).toBe(opens);
    expect(await page.locator('#opens-chart rect').count()).toBeGreaterThan(0);
    const shot = await page.screenshot({ fullPage: true });
    mkdirSync(join(__dirname, '..', '..', 'build'), { recursive: true });
    writeFileSync(join(__dirname, '..', '..', 'build', 'report-screenshot.png'), shot);
    expect(shot.length).toBeGreaterThan(10_000);
    await page.close();
  });

  it('escapes what it shows: a campaign name cannot inject markup', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await stats.recordDeliveries({ deliveries: [{ tenant: DEMO_TENANT, campaign: evil, message: 'x-1', deliveredAtUnixMs: String(Date.now()), links: 1 }] });
    const file = join(dir, 'evil.html');
    const r = await runCli(['report', evil, '--tenant', DEMO_TENANT, '--out', file, '--stats', stack.statsAddress], '', { WINNOW_SERVICE_KEY: stack.serviceKey });
    expect(r.status, r.stderr).toBe(0);
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    expect(await page.locator('h1').textContent()).toBe(`Campaign ${evil}`);
    expect(await page.locator('img').count()).toBe(0);
    await page.close();
  });
});
