import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { bearer, closeClient, createClient } from '@winnow/grpc';
import { ConfigService, PolicyMode, StatsService, type CampaignStats, type Figures } from '@winnow/proto';
import { sourceName } from '@winnow/engagement';
import { prepareEmail, type PreparedEmail } from '@winnow/mail';
import { keyringOf } from '@winnow/tokens';
import { eventually, httpRequest } from '@winnow/http-util';
import { freePorts, launchStack } from './launcher';
import { parseCommandLine } from './args';
import { CAMPAIGN, DEMO_EMAIL, demoTraffic } from './demo-traffic';

const TENANT = 'demo-clinic';
const HOST = 'demo-clinic.localhost';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function row(label: string, f: Figures | undefined): string {
  if (!f) return label;
  return [label.padEnd(30), f.opens.padStart(6), f.uniqueOpens.padStart(8), f.clicks.padStart(7), f.uniqueClicks.padStart(8), pct(f.openRate).padStart(8), pct(f.clickThroughRate).padStart(7), pct(f.clickToOpenRate).padStart(7)].join(' ');
}

export function renderStats(s: CampaignStats, included: CampaignStats): string {
  const head = ['figures'.padEnd(30), 'opens'.padStart(6), 'uniq.op'.padStart(8), 'clicks'.padStart(7), 'uniq.cl'.padStart(8), 'open %'.padStart(8), 'CTR'.padStart(7), 'CTOR'.padStart(7)].join(' ');
  const lines = [
    `campaign ${s.campaign} of ${s.tenant}: ${s.delivered} delivered`,
    head,
    row('reported, automated suppressed', s.reported),
    row('reported, automated included', included.reported),
    row('  people only', s.human),
    ...s.automatedBySource.filter((x) => Number(x.figures!.opens) + Number(x.figures!.clicks) > 0).map((x) => row(`  automated: ${sourceName(x.source)}`, x.figures)),
  ];
  return lines.join('\n');
}

/**
 * `npm run demo`: starts the stack on free ports with a throw-away store, sends a realistic
 * campaign's traffic through real HTTP requests, and prints the statistics both ways.
 */
export const DEMO_USAGE = `usage: winnow demo

Starts collector, classifier and stats on free ports with a throw-away store, sends a 40-recipient
campaign's traffic (people, Apple's privacy prefetch, Gmail's proxy, a Safe Links scanner, a Slack
preview) through real HTTP requests, prints the statistics both ways, and stops.

  --keep   leave the stack running afterwards and print the two variables that point the other
           winnow commands at it (winnow stats ${CAMPAIGN} --tenant ${TENANT}, ...); Ctrl-C stops it
`;

export async function demo(argv: string[] = []): Promise<void> {
  const args = parseCommandLine(argv, { keep: { type: 'boolean' } }, DEMO_USAGE, 0);
  if (!args) return;
  const keep = args.values['keep'] === true;
  const dataDir = mkdtempSync(join(tmpdir(), 'winnow-demo-'));
  const ports = await freePorts();
  process.stdout.write(`starting collector, classifier and stats (data in ${dataDir}) ...\n`);
  const serviceKey = randomBytes(32).toString('base64url');
  const stack = await launchStack({ ports, dataDir, env: { WINNOW_SERVICE_KEY: serviceKey, WINNOW_TRUSTED_PROXIES: 'loopback', WINNOW_BATCH_MAX_DELAY_MS: '20', WINNOW_LOG_LEVEL: 'warn' } });
  const statsAddress = `127.0.0.1:${ports.statsGrpc}`;
  const config = createClient(ConfigService, statsAddress, { metadata: bearer(serviceKey) });
  const stats = createClient(StatsService, statsAddress, { metadata: bearer(serviceKey) });
  try {
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === HOST);
    if (!domain) throw new Error(`the demo tracking domain ${HOST} is missing`);
    const keyring = keyringOf(domain);
    const { messages, requests } = demoTraffic();
    const sentAtS = Math.floor(Date.now() / 1000) - 3600;
    // Each recipient's copy is prepared as a sender would: sealed links, trap link, pixel.
    const emails = new Map<string, PreparedEmail>();
    for (const message of messages) {
      emails.set(message, prepareEmail(DEMO_EMAIL, { keyring, baseUrl: `http://${HOST}`, tenant: TENANT, campaign: CAMPAIGN, message, sentAtS }));
    }
    await stats.recordDeliveries({
      deliveries: messages.map((message) => ({ tenant: TENANT, campaign: CAMPAIGN, message, deliveredAtUnixMs: String(sentAtS * 1000), links: emails.get(message)!.links.length })),
    });
    process.stdout.write(`delivered ${messages.length} messages; sending ${requests.length} requests to http://127.0.0.1:${ports.collectorHttp} as ${HOST}\n`);
    const statuses = new Map<string, number>();
    for (const req of requests) {
      const email = emails.get(req.message)!;
      const path = new URL(req.what === 'open' ? email.pixelUrl : email.links[req.what.link]!.url).pathname;
      const res = await httpRequest({ port: ports.collectorHttp, path, host: HOST, method: req.method, headers: { ...req.headers, 'x-forwarded-for': req.ip } });
      const key = `${req.method} ${req.what === 'open' ? 'pixel' : 'link'} -> ${res.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    process.stdout.write(`answers: ${[...statuses].map(([k, v]) => `${v} x ${k}`).join(', ')}\n`);
    await eventually(
      () => stats.listEvents({ filter: { tenant: TENANT, campaign: CAMPAIGN }, pageSize: 1000 }),
      (page) => page.events.length === requests.length,
      15_000,
    );
    const [policy, included] = await Promise.all([
      stats.getCampaignStats({ tenant: TENANT, campaign: CAMPAIGN }),
      stats.getCampaignStats({ tenant: TENANT, campaign: CAMPAIGN, policyMode: PolicyMode.INCLUDE_AUTOMATED }),
    ]);
    process.stdout.write(`\n${renderStats(policy.stats!, included.stats!)}\n\n`);
    const timeline = await stats.getMessageTimeline({ tenant: TENANT, message: 'reminder-014' });
    process.stdout.write('why: the timeline of reminder-014 (Safe Links, then its reader)\n');
    for (const e of timeline.timeline!.events) {
      const ev = e.event!;
      const v = e.verdict!;
      const what = ev.kind === 1 ? 'open ' : `click link ${ev.linkIndex}`;
      process.stdout.write(`  ${ev.method.padEnd(4)} ${what.padEnd(12)} ${sourceName(v.source).padEnd(17)} ${v.confidence.toFixed(2)}  ${v.reasons.join('; ')}\n`);
    }
    if (keep) {
      process.stdout.write(
        [
          '',
          'The stack keeps running (--keep). In another shell:',
          `  export WINNOW_STATS_ADDR=${statsAddress} WINNOW_SERVICE_KEY=${serviceKey}`,
          `  winnow stats ${CAMPAIGN} --tenant ${TENANT}`,
          `  winnow timeline reminder-014 --tenant ${TENANT}`,
          `  winnow report ${CAMPAIGN} --tenant ${TENANT} --out report.html`,
          'Ctrl-C stops it and removes its data.',
          '',
        ].join('\n'),
      );
      await new Promise<void>((stop) => {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void stack.exited.then(() => stop());
      });
    }
  } finally {
    closeClient(config);
    closeClient(stats);
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
