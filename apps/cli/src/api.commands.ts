import { randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { toJson } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { closeClient, type ClientOf } from '@winnow/grpc';
import { sourceName, parseSourceName, AUTOMATED_SOURCES } from '@winnow/engagement';
import {
  ApiKeyScope,
  CampaignStatsSchema,
  ConfigService,
  GetLinkStatsResponseSchema,
  EventKind,
  Granularity,
  LinkRole,
  PolicyMode,
  Source,
  StatsService,
  type CampaignStats,
  type ClassifiedEvent,
  type ExplicitPolicy,
  type Figures,
} from '@winnow/proto';
import { UsageError, parseCommandLine } from './args';
import { connect } from './connect';
import { replaceWhenWhole } from './replace-file';
import { json, percent, table, when } from './output';
import { renderReport } from './report-html';

const CONNECTION = `  --stats ADDR    the stats service's gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
  --key KEY       an API key (default WINNOW_API_KEY, then the service key: WINNOW_SERVICE_KEY or
                  the file npm start wrote in WINNOW_DATA_DIR)
  --json          JSON instead of a table`;

const POLICY_FLAGS = `  --include-automated             count every event, automated ones too
  --exclude-automated             leave every automated event out
  --leave-out SOURCES             leave these automated sources out of opens and clicks (a preview)
  --leave-out-opens SOURCES, --leave-out-clicks SOURCES   the same, for one of them
                                  (none of these: the tenant's policy)
  SOURCES: comma-separated, of ${AUTOMATED_SOURCES.map(sourceName).join(', ')}`;

const common = {
  tenant: { type: 'string' },
  stats: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
const policyOptions = {
  'include-automated': { type: 'boolean', default: false },
  'exclude-automated': { type: 'boolean', default: false },
  'leave-out': { type: 'string' },
  'leave-out-opens': { type: 'string' },
  'leave-out-clicks': { type: 'string' },
} as const;

export { UsageError };

/** JSON output keeps fields whose value is zero or empty: a script reading `clicks` finds 0, not nothing. */
const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;

type Args = { values: Record<string, string | boolean | undefined>; positionals: string[] };
const str = (a: Args, name: string): string | undefined => (typeof a.values[name] === 'string' ? (a.values[name] as string) : undefined);
const flag = (a: Args, name: string): boolean => a.values[name] === true;
/** A client of the stats service (or its ConfigService) at --stats, with --key, calls bounded by deadlineMs. */
const client = <T extends GenServiceMethods>(service: GenService<T>, a: Args, deadlineMs: number) => connect(service, { stats: str(a, 'stats'), key: str(a, 'key'), deadlineMs });

/** The command line, or undefined after printing the usage for --help. */
const parse = (argv: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string, maxPositionals: number): Args | undefined =>
  parseCommandLine(argv, { ...common, ...options }, usage, maxPositionals);

function need<T>(value: T | undefined, what: string, usage: string): T {
  if (value === undefined || value === '') throw new UsageError(`${what} is required\n\n${usage}`);
  return value;
}

function sources(list: string | undefined, flag: string): Source[] {
  if (!list) return [];
  return list.split(',').map((name) => {
    const s = parseSourceName(name.trim());
    if (s === undefined || !AUTOMATED_SOURCES.includes(s)) {
      throw new UsageError(`--${flag}: ${JSON.stringify(name.trim())} is not an automated source (${AUTOMATED_SOURCES.map(sourceName).join(', ')}); people are never left out`);
    }
    return s;
  });
}

type QueryPolicy = { policyMode: PolicyMode; explicitPolicy?: ExplicitPolicy };

/**
 * The query's policy from the flags: the tenant's when none is given. With only one of
 * --leave-out-opens and --leave-out-clicks, the other side is as the tenant's policy has it
 * (`tenantSides` asks the service for it), as `policy set` keeps a side not given.
 */
async function policyOf(v: Record<string, unknown>, tenantSides: () => Promise<{ opens: Source[]; clicks: Source[] }>): Promise<QueryPolicy> {
  const both = v['leave-out'] as string | undefined;
  const opens = v['leave-out-opens'] as string | undefined;
  const clicks = v['leave-out-clicks'] as string | undefined;
  const explicit = both !== undefined || opens !== undefined || clicks !== undefined;
  const chosen = [v['include-automated'] === true, v['exclude-automated'] === true, explicit].filter(Boolean).length;
  if (chosen > 1) throw new UsageError('give one of --include-automated, --exclude-automated or --leave-out...');
  if (both !== undefined && (opens !== undefined || clicks !== undefined)) throw new UsageError('give --leave-out, or --leave-out-opens and --leave-out-clicks, not both');
  if (v['include-automated']) return { policyMode: PolicyMode.INCLUDE_AUTOMATED };
  if (v['exclude-automated']) return { policyMode: PolicyMode.EXCLUDE_AUTOMATED };
  if (!explicit) return { policyMode: PolicyMode.UNSPECIFIED };
  const leaveOutOpens = both !== undefined ? sources(both, 'leave-out') : opens !== undefined ? sources(opens, 'leave-out-opens') : undefined;
  const leaveOutClicks = both !== undefined ? sources(both, 'leave-out') : clicks !== undefined ? sources(clicks, 'leave-out-clicks') : undefined;
  const tenant = leaveOutOpens === undefined || leaveOutClicks === undefined ? await tenantSides() : undefined;
  return { policyMode: PolicyMode.EXPLICIT, explicitPolicy: { leaveOutOpens: leaveOutOpens ?? tenant!.opens, leaveOutClicks: leaveOutClicks ?? tenant!.clicks } as ExplicitPolicy };
}

/** What the tenant's own policy leaves out of opens and of clicks, as the service applies it. */
const tenantSidesFrom = (stats: ClientOf<typeof StatsService>, tenant: string, campaign: string) => async () => {
  const applied = (await stats.getCampaignStats({ tenant, campaign })).stats!.appliedPolicy!;
  return { opens: applied.suppressedOpenSources, clicks: applied.suppressedClickSources };
};

/** Nothing at all is recorded for the campaign: most likely a misspelt campaign or tenant. */
const nothingRecorded = (s: CampaignStats) => Number(s.delivered) === 0 && Number(s.all?.opens ?? 0) === 0 && Number(s.all?.clicks ?? 0) === 0;
const NOTHING = (tenant: string, campaign: string) =>
  `nothing is recorded for campaign ${JSON.stringify(campaign)} of tenant ${JSON.stringify(tenant)} (no delivery, no event): check both names (winnow events --tenant ${tenant} lists what is stored)`;

const policyText = (s: CampaignStats) => {
  const p = s.appliedPolicy!;
  const mode = { [PolicyMode.UNSPECIFIED]: "the tenant's", [PolicyMode.INCLUDE_AUTOMATED]: 'everything counted', [PolicyMode.EXCLUDE_AUTOMATED]: 'people only', [PolicyMode.EXPLICIT]: 'previewed' }[p.mode];
  const list = (x: Source[]) => (x.length ? x.map(sourceName).join(', ') : 'none');
  return `${mode}; left out of opens: ${list(p.suppressedOpenSources)}; of clicks: ${list(p.suppressedClickSources)}`;
};

const figureRow = (name: string, f: Figures | undefined) => [
  name,
  String(f?.opens ?? 0),
  String(f?.uniqueOpens ?? 0),
  String(f?.clicks ?? 0),
  String(f?.uniqueClicks ?? 0),
  percent(f?.openRate ?? 0),
  percent(f?.clickThroughRate ?? 0),
  percent(f?.clickToOpenRate ?? 0),
];

export function statsTable(s: CampaignStats): string {
  return (
    `campaign ${s.campaign} (tenant ${s.tenant}): ${s.delivered} delivered; policy: ${policyText(s)}\n` +
    table([
      ['', 'opens', 'unique opens', 'clicks', 'unique clicks', 'open rate', 'click-through', 'click-to-open'],
      figureRow('reported', s.reported),
      figureRow('people only', s.human),
      figureRow('everything', s.all),
      ...s.automatedBySource.filter((x) => Number(x.figures?.opens ?? 0) + Number(x.figures?.clicks ?? 0) > 0).map((x) => figureRow(`  ${sourceName(x.source)}`, x.figures)),
    ]) +
    (s.estimatedHumanOpenRate && s.estimatedHumanOpenRate.hiddenShare > 0
      ? `people's open rate estimated ${percent(s.estimatedHumanOpenRate.rate)} (95% interval ${percent(s.estimatedHumanOpenRate.low)} to ${percent(s.estimatedHumanOpenRate.high)}): Apple's privacy prefetch hides whether ${percent(s.estimatedHumanOpenRate.hiddenShare)} of recipients opened\n`
      : '')
  );
}

export const STATS_USAGE = `usage: winnow stats CAMPAIGN --tenant T [policy] [options]

A campaign's opens, clicks, unique counts and rates: as reported under the policy, people only,
everything, and each automated source.

${POLICY_FLAGS}
${CONNECTION}
`;

export async function statsCommand(argv: string[]): Promise<void> {
  const a = parse(argv, policyOptions, STATS_USAGE, 1);
  if (!a) return;
  const campaign = need(a.positionals[0], 'CAMPAIGN', STATS_USAGE);
  const tenant = need(str(a, 'tenant'), '--tenant', STATS_USAGE);
  const stats = client(StatsService, a, 30_000);
  try {
    const r = await stats.getCampaignStats({ tenant, campaign, ...(await policyOf(a.values, tenantSidesFrom(stats, tenant, campaign))) });
    process.stdout.write(flag(a, 'json') ? json(toJson(CampaignStatsSchema, r.stats!, JSON_OPTIONS)) : statsTable(r.stats!));
    if (nothingRecorded(r.stats!)) process.stderr.write(`warning: ${NOTHING(tenant, campaign)}\n`);
  } finally {
    closeClient(stats);
  }
}

export const TIMELINE_USAGE = `usage: winnow timeline MESSAGE --tenant T [options]

Every event of one recipient's message, oldest first, with its verdict, source, confidence and the
evidence that decided it.

${CONNECTION}
`;

const kindName = (k: EventKind) => (k === EventKind.OPEN ? 'open' : k === EventKind.CLICK ? 'click' : '?');
const roleName = (r: LinkRole) => (LinkRole[r] ?? '').toLowerCase().replace('unspecified', '');

export async function timelineCommand(argv: string[]): Promise<void> {
  const a = parse(argv, {}, TIMELINE_USAGE, 1);
  if (!a) return;
  const message = need(a.positionals[0], 'MESSAGE', TIMELINE_USAGE);
  const tenant = need(str(a, 'tenant'), '--tenant', TIMELINE_USAGE);
  const stats = client(StatsService, a, 30_000);
  try {
    const t = (await stats.getMessageTimeline({ tenant, message })).timeline!;
    if (flag(a, 'json')) {
      process.stdout.write(json({ tenant: t.tenant, campaign: t.campaign, message: t.message, deliveredAt: when(t.deliveredAtUnixMs), events: t.events.map(eventRecord) }));
      return;
    }
    process.stdout.write(`message ${t.message} (campaign ${t.campaign}, tenant ${t.tenant}), delivered ${when(t.deliveredAtUnixMs)}\n`);
    process.stdout.write(
      table([
        ['time', 'kind', 'link', 'method', 'verdict', 'source', 'confidence', 'why'],
        ...t.events.map((e) => {
          const r = eventRecord(e);
          return [r.at, r.kind, r.kind === 'click' ? `${r.link}${r.role ? ` ${r.role}` : ''}` : '', r.method, r.actor, r.source, r.confidence.toFixed(2), r.reasons.join('; ')];
        }),
      ]),
    );
  } finally {
    closeClient(stats);
  }
}

function eventRecord(e: ClassifiedEvent) {
  const ev = e.event!;
  const v = e.verdict;
  return {
    id: ev.id,
    at: when(ev.atUnixMs),
    campaign: ev.campaign,
    message: ev.message,
    kind: kindName(ev.kind),
    link: ev.linkIndex,
    role: roleName(ev.linkRole),
    method: ev.method,
    actor: v?.source === Source.HUMAN ? 'person' : 'automated',
    source: v ? sourceName(v.source) : '',
    confidence: v?.confidence ?? 0,
    reasons: v?.reasons ?? [],
    revision: v?.revision ?? 0,
  };
}

const CSV_COLUMNS = ['id', 'at', 'campaign', 'message', 'kind', 'link', 'role', 'method', 'actor', 'source', 'confidence', 'reasons', 'revision'] as const;
/**
 * One CSV cell. A value a spreadsheet would run as a formula (it begins with =, +, -, @, a tab or a
 * carriage return: campaign and message names come from whoever records events) is written after
 * a `'`, which spreadsheets show as text (OWASP, "CSV Injection").
 */
export const csvCell = (v: unknown) => {
  let s = Array.isArray(v) ? v.join('; ') : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const EVENTS_USAGE = `usage: winnow events --tenant T [filters] [options]

A tenant's stored events, newest first, streamed page by page as JSON lines (default) or CSV, with a
count on standard error while it runs on a terminal.

  --campaign C, --message M      only these
  --source S                     only events of this source (human or an automated one)
  --kind open|click              only opens or clicks
  --since ISO, --until ISO       event time at or after, and before
  --format jsonl|csv             (default jsonl)
  --out FILE                     write here instead of standard output (the file is replaced only
                                 once every event is written; a failed run leaves it as it was)

In CSV, a value that begins with =, +, -, @, a tab or a carriage return is written after a ' so
that a spreadsheet shows it as text instead of running it.
${CONNECTION}
`;

export async function eventsCommand(argv: string[]): Promise<void> {
  const a = parse(argv, { campaign: { type: 'string' }, message: { type: 'string' }, source: { type: 'string' }, kind: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } }, EVENTS_USAGE, 0);
  if (!a) return;
  const tenant = need(str(a, 'tenant'), '--tenant', EVENTS_USAGE);
  const format = str(a, 'format') ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError(`--format must be jsonl or csv, got ${JSON.stringify(format)}`);
  const sourceArg = str(a, 'source');
  const source = sourceArg ? parseSourceName(sourceArg) : Source.UNSPECIFIED;
  if (source === undefined) throw new UsageError(`--source: ${JSON.stringify(str(a, 'source'))} is not a source (human, ${AUTOMATED_SOURCES.map(sourceName).join(', ')})`);
  if (str(a, 'kind') && str(a, 'kind') !== 'open' && str(a, 'kind') !== 'click') throw new UsageError(`--kind must be open or click, got ${JSON.stringify(str(a, 'kind'))}`);
  const time = (s: string | undefined, flag: string) => {
    if (!s) return '0';
    const t = Date.parse(s);
    if (Number.isNaN(t)) throw new UsageError(`--${flag}: ${JSON.stringify(s)} is not a date or time (e.g. 2026-11-30 or 2026-11-30T09:00:00Z)`);
    // 0 means "no bound" to the service: a time at or before 1970 would silently drop the bound.
    if (t <= 0) throw new UsageError(`--${flag}: ${JSON.stringify(s)} is at or before 1970-01-01T00:00:00Z; give a later time`);
    return String(t);
  };
  const filter = {
    tenant,
    campaign: str(a, 'campaign') ?? '',
    message: str(a, 'message') ?? '',
    source,
    kind: str(a, 'kind') === 'open' ? EventKind.OPEN : str(a, 'kind') === 'click' ? EventKind.CLICK : EventKind.UNSPECIFIED,
    fromUnixMs: time(str(a, 'since'), 'since'),
    toUnixMs: time(str(a, 'until'), 'until'),
  };
  const outFile = str(a, 'out');
  const file = outFile ? replaceWhenWhole(outFile) : undefined;
  const out = file ? createWriteStream('', { fd: file.fd }) : process.stdout;
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((ok) => out.once('drain', ok)));
  const tty = process.stderr.isTTY === true;
  const stats = client(StatsService, a, 60_000);
  let count = 0;
  try {
    if (format === 'csv') await write(`${CSV_COLUMNS.join(',')}\n`);
    let pageToken = '';
    do {
      const page = await stats.listEvents({ filter, pageSize: 1000, pageToken });
      for (const e of page.events) {
        const r = eventRecord(e);
        await write(format === 'csv' ? `${CSV_COLUMNS.map((c) => csvCell(r[c])).join(',')}\n` : json(r));
      }
      count += page.events.length;
      if (tty) process.stderr.write(`\r${count} events`);
      pageToken = page.nextPageToken;
    } while (pageToken);
    if (tty) process.stderr.write(`\r${count} events\n`);
    if (file) {
      await new Promise<void>((ok) => out.end(() => ok()));
      file.commit();
    }
  } finally {
    closeClient(stats);
    if (file && out.writable) await new Promise<void>((ok) => out.end(() => ok()));
    file?.discard();
  }
}

export const LINKS_USAGE = `usage: winnow links CAMPAIGN --tenant T [policy] [options]

Clicks and unique clickers per link, people and machines apart, the unsubscribe link apart.

${POLICY_FLAGS}
${CONNECTION}
`;

export async function linksCommand(argv: string[]): Promise<void> {
  const a = parse(argv, policyOptions, LINKS_USAGE, 1);
  if (!a) return;
  const campaign = need(a.positionals[0], 'CAMPAIGN', LINKS_USAGE);
  const tenant = need(str(a, 'tenant'), '--tenant', LINKS_USAGE);
  const stats = client(StatsService, a, 120_000);
  try {
    const r = await stats.getLinkStats({ tenant, campaign, ...(await policyOf(a.values, tenantSidesFrom(stats, tenant, campaign))) });
    if (r.links.length === 0 && nothingRecorded((await stats.getCampaignStats({ tenant, campaign, policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!)) {
      process.stderr.write(`warning: ${NOTHING(tenant, campaign)}\n`);
    }
    if (flag(a, 'json')) {
      process.stdout.write(json(toJson(GetLinkStatsResponseSchema, r, JSON_OPTIONS)));
      return;
    }
    process.stdout.write(
      table([
        ['link', 'role', 'clicks', 'unique clickers', 'people', 'unique people', 'machines', 'unique machines', 'by source'],
        ...r.links.map((l) => [
          l.link,
          roleName(l.role) || 'content',
          l.clicks,
          l.uniqueClickers,
          l.humanClicks,
          l.humanUniqueClickers,
          l.automatedClicks,
          l.automatedUniqueClickers,
          l.automatedBySource.map((s) => `${sourceName(s.source)} ${s.count}`).join(', '),
        ]),
      ]) + `engagement clicks ${r.contentClicks} (${r.contentUniqueClickers} unique); unsubscribe clicks ${r.unsubscribeClicks} (${r.unsubscribeUniqueClickers} unique); from ${r.eventsRead} stored click events\n`,
    );
  } finally {
    closeClient(stats);
  }
}

const SCOPES: Record<string, ApiKeyScope> = { read: ApiKeyScope.READ, write: ApiKeyScope.WRITE, prepare: ApiKeyScope.PREPARE, admin: ApiKeyScope.ADMIN };
const scopeName = (s: ApiKeyScope) => (ApiKeyScope[s] ?? String(s)).toLowerCase();

export const KEYS_USAGE = `usage: winnow keys create --tenant T [--scope read,write,prepare,admin] [--expires 30d|ISO] [--description D]
       winnow keys list --tenant T
       winnow keys revoke KEY_ID

API keys of a tenant. A new key is printed once; only its hash is kept. Scopes: read (figures,
events), write (record deliveries and events), prepare (prepare mail), admin (policy, erasure, keys);
default read,write. A key id that begins with '-' (only keys made before 2026-12) goes after '--':
winnow keys revoke -- -dVf1dkbDBvy.
${CONNECTION}
`;

function expiry(s: string | undefined): string {
  if (!s) return '0';
  const days = /^(\d{1,5})d$/.exec(s);
  const t = days ? Date.now() + Number(days[1]) * 86_400_000 : Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`--expires: ${JSON.stringify(s)} is neither a number of days (30d) nor a date`);
  return String(t);
}

export async function keysCommand(argv: string[]): Promise<void> {
  const a = parse(argv, { scope: { type: 'string' }, expires: { type: 'string' }, description: { type: 'string' } }, KEYS_USAGE, 2);
  if (!a) return;
  const [action, id] = a.positionals;
  const config = client(ConfigService, a, 30_000);
  try {
    if (action === 'create') {
      const scopes = (str(a, 'scope') ?? 'read,write').split(',').map((s) => {
        const scope = SCOPES[s.trim()];
        if (scope === undefined) throw new UsageError(`--scope: ${JSON.stringify(s.trim())} is not one of read, write, prepare, admin`);
        return scope;
      });
      const r = await config.createApiKey({ tenant: need(str(a, 'tenant'), '--tenant', KEYS_USAGE), description: str(a, 'description') ?? '', scopes, expiresAtUnixMs: expiry(str(a, 'expires')) });
      const info = { keyId: r.info!.keyId, tenant: r.info!.tenant, scopes: r.info!.scopes.map(scopeName), expiresAt: when(r.info!.expiresAtUnixMs) };
      process.stdout.write(flag(a, 'json') ? json({ key: r.key, ...info }) : `${r.key}\n`);
      if (!flag(a, 'json')) process.stderr.write(`key ${info.keyId} for tenant ${info.tenant}, scopes ${info.scopes.join(', ')}, expires ${info.expiresAt}: shown only now, keep it in a secret store\n`);
    } else if (action === 'list') {
      const r = await config.listApiKeys({ tenant: need(str(a, 'tenant'), '--tenant', KEYS_USAGE) });
      const rows = r.keys.map((k) => ({ keyId: k.keyId, scopes: k.scopes.map(scopeName), created: when(k.createdAtUnixMs), expires: when(k.expiresAtUnixMs), description: k.description }));
      process.stdout.write(flag(a, 'json') ? rows.map(json).join('') : table([['key id', 'scopes', 'created', 'expires', 'description'], ...rows.map((k) => [k.keyId, k.scopes.join(','), k.created, k.expires, k.description])]));
    } else if (action === 'revoke') {
      const r = await config.revokeApiKey({ keyId: need(id, 'KEY_ID', KEYS_USAGE) });
      process.stdout.write(flag(a, 'json') ? json({ revoked: r.revoked }) : r.revoked ? `revoked ${id}\n` : `no key ${id}\n`);
      if (!r.revoked) process.exitCode = 1;
    } else throw new UsageError(KEYS_USAGE);
  } finally {
    closeClient(config);
  }
}

export const DOMAINS_USAGE = `usage: winnow domains list
       winnow domains add HOSTNAME --tenant T
       winnow domains rotate HOSTNAME [--retire KEY_ID]

Tracking domains and their signing keys, outside Kubernetes (in a cluster the operator owns them:
use TrackingDomain resources). Needs the service key. Keys are never printed. 'add' registers the
hostname with a fresh random key; 'rotate' adds a new sealing key and keeps the others opening the
links already sent (--retire removes one once nothing it sealed is still taken).
${CONNECTION}
`;

export async function domainsCommand(argv: string[]): Promise<void> {
  const a = parse(argv, { retire: { type: 'string' } }, DOMAINS_USAGE, 2);
  if (!a) return;
  const [action, host] = a.positionals;
  const config = client(ConfigService, a, 30_000);
  try {
    const domains = (await config.listTrackingDomains({})).domains;
    if (action === 'list') {
      const rows = domains.map((d) => ({ hostname: d.hostname, tenant: d.tenant, keys: d.keys.map((k) => k.id), sealing: d.keys.find((k) => k.sealing)?.id ?? '' }));
      process.stdout.write(flag(a, 'json') ? rows.map(json).join('') : table([['hostname', 'tenant', 'keys', 'sealing'], ...rows.map((d) => [d.hostname, d.tenant, d.keys.join(','), d.sealing])]));
      return;
    }
    const hostname = need(host, 'HOSTNAME', DOMAINS_USAGE).toLowerCase();
    const existing = domains.find((d) => d.hostname === hostname);
    if (action === 'add') {
      const tenant = need(str(a, 'tenant'), '--tenant', DOMAINS_USAGE);
      if (existing) throw new UsageError(`${hostname} is registered already (to tenant ${existing.tenant}); rotate its keys with: winnow domains rotate ${hostname}`);
      await config.putTrackingDomain({ domain: { hostname, tenant, keys: [{ id: 'k1', secret: randomBytes(32), sealing: true }] } });
      process.stdout.write(flag(a, 'json') ? json({ hostname, tenant, sealing: 'k1' }) : `registered ${hostname} for tenant ${tenant} with key k1\n`);
    } else if (action === 'rotate') {
      if (!existing) throw new UsageError(`no tracking domain ${hostname}; add it with: winnow domains add ${hostname} --tenant T`);
      let keys = existing.keys.map((k) => ({ id: k.id, secret: k.secret, sealing: false }));
      if (str(a, 'retire')) {
        if (!keys.some((k) => k.id === str(a, 'retire'))) throw new UsageError(`${hostname} has no key ${str(a, 'retire')} (it has ${keys.map((k) => k.id).join(', ')})`);
        if (existing.keys.find((k) => k.id === str(a, 'retire'))?.sealing) throw new UsageError(`${str(a, 'retire')} seals new links: rotate first, retire it later`);
        keys = keys.filter((k) => k.id !== str(a, 'retire'));
        keys.find((k) => k.id === existing.keys.find((x) => x.sealing)?.id)!.sealing = true;
      } else {
        const n = Math.max(0, ...keys.map((k) => Number(/^k(\d{1,6})$/.exec(k.id)?.[1] ?? 0))) + 1;
        keys.push({ id: `k${n}`, secret: randomBytes(32), sealing: true });
      }
      await config.putTrackingDomain({ domain: { hostname, tenant: existing.tenant, keys } });
      const sealing = keys.find((k) => k.sealing)!.id;
      process.stdout.write(flag(a, 'json') ? json({ hostname, keys: keys.map((k) => k.id), sealing }) : `${hostname}: keys ${keys.map((k) => k.id).join(', ')}; ${sealing} seals new links\n`);
    } else throw new UsageError(DOMAINS_USAGE);
  } finally {
    closeClient(config);
  }
}

export const POLICY_USAGE = `usage: winnow policy get --tenant T
       winnow policy set --tenant T (--all-automated | [--opens SOURCES] [--clicks SOURCES])
       winnow policy preview CAMPAIGN --tenant T (--all-automated | [--opens SOURCES] [--clicks SOURCES])

The tenant's suppression policy: which automated sources leave the reported opens and clicks.
'preview' shows a campaign's figures under the tenant's policy and under the one given, before it is
set. SOURCES: comma-separated automated sources, or 'none'. Of --opens and --clicks, the one not
given stays as the tenant's policy has it.
${CONNECTION}
`;

export async function policyCommand(argv: string[]): Promise<void> {
  const a = parse(argv, { 'all-automated': { type: 'boolean', default: false }, opens: { type: 'string' }, clicks: { type: 'string' } }, POLICY_USAGE, 2);
  if (!a) return;
  const [action, campaign] = a.positionals;
  const tenant = need(str(a, 'tenant'), '--tenant', POLICY_USAGE);
  const list = (s: string | undefined, flag: string) => (s === undefined || s === 'none' ? [] : sources(s, flag));
  const all = flag(a, 'all-automated');
  if (all && (str(a, 'opens') !== undefined || str(a, 'clicks') !== undefined)) throw new UsageError(`give --all-automated, or --opens and --clicks, not both\n\n${POLICY_USAGE}`);
  if ((action === 'set' || action === 'preview') && !all && str(a, 'opens') === undefined && str(a, 'clicks') === undefined) throw new UsageError(`give --all-automated, --opens or --clicks\n\n${POLICY_USAGE}`);
  const ALL = { allAutomated: true, sources: [] };
  /** The sources one side leaves out: as given, every automated one, or (not given) as the tenant's policy has them. */
  const side = (current: { allAutomated: boolean; sources: Source[] } | undefined, name: 'opens' | 'clicks'): Source[] => {
    if (all) return [...AUTOMATED_SOURCES];
    const given = str(a, name);
    if (given !== undefined) return list(given, name);
    return !current || current.allAutomated ? [...AUTOMATED_SOURCES] : current.sources;
  };
  const config = client(ConfigService, a, 30_000);
  const stats = client(StatsService, a, 30_000);
  const show = (p: { opens?: { allAutomated: boolean; sources: Source[] }; clicks?: { allAutomated: boolean; sources: Source[] } }, explicit: boolean) => {
    const sel = (x?: { allAutomated: boolean; sources: Source[] }) => (!x || x.allAutomated ? 'every automated source' : x.sources.length ? x.sources.map(sourceName).join(', ') : 'nothing');
    return flag(a, 'json') ? json({ tenant, explicit, opens: sel(p.opens), clicks: sel(p.clicks) }) : `tenant ${tenant}${explicit ? '' : ' (the default)'}: leaves out of opens ${sel(p.opens)}; of clicks ${sel(p.clicks)}\n`;
  };
  try {
    if (action === 'get') {
      const r = await config.getSuppressionPolicy({ tenant });
      process.stdout.write(show(r.policy!, r.explicit));
    } else if (action === 'set') {
      const current = (await config.getSuppressionPolicy({ tenant })).policy!;
      // A side not given is kept as it is (all automated sources stays so, new ones included).
      const keep = (name: 'opens' | 'clicks') => {
        const given = str(a, name);
        if (all) return ALL;
        return given === undefined ? (current[name] ?? ALL) : { allAutomated: false, sources: list(given, name) };
      };
      const r = await config.putSuppressionPolicy({ policy: { tenant, opens: keep('opens'), clicks: keep('clicks') } });
      process.stdout.write(show(r.policy!, true));
    } else if (action === 'preview') {
      const c = need(campaign, 'CAMPAIGN', POLICY_USAGE);
      const current = (await config.getSuppressionPolicy({ tenant })).policy!;
      const now = (await stats.getCampaignStats({ tenant, campaign: c })).stats!;
      if (nothingRecorded(now)) process.stderr.write(`warning: ${NOTHING(tenant, c)}\n`);
      const next = (await stats.getCampaignStats({ tenant, campaign: c, policyMode: PolicyMode.EXPLICIT, explicitPolicy: { leaveOutOpens: side(current.opens, 'opens'), leaveOutClicks: side(current.clicks, 'clicks') } })).stats!;
      if (flag(a, 'json')) {
        process.stdout.write(json({ current: toJson(CampaignStatsSchema, now, JSON_OPTIONS), preview: toJson(CampaignStatsSchema, next, JSON_OPTIONS) }));
        return;
      }
      process.stdout.write(
        `campaign ${c}: ${now.delivered} delivered\n  now:     ${policyText(now)}\n  preview: ${policyText(next)}\n` +
          table([['', 'opens', 'unique opens', 'clicks', 'unique clicks', 'open rate', 'click-through', 'click-to-open'], figureRow('now', now.reported), figureRow('preview', next.reported)]),
      );
    } else throw new UsageError(POLICY_USAGE);
  } finally {
    closeClient(config);
    closeClient(stats);
  }
}

export const REPORT_USAGE = `usage: winnow report CAMPAIGN --tenant T --out report.html [options]

One self-contained HTML file (no script, no external style or font): opens and clicks over time,
people and each automated source apart; the rates as reported and for people only; every link,
people against machines, the unsubscribe link apart; the policy applied; and the evidence behind
the automated verdicts.

  --out FILE      where to write it (required)
  --stats ADDR, --key KEY   as for the other commands
`;

export async function reportCommand(argv: string[]): Promise<void> {
  const a = parse(argv, { out: { type: 'string' } }, REPORT_USAGE, 1);
  if (!a) return;
  const campaign = need(a.positionals[0], 'CAMPAIGN', REPORT_USAGE);
  const tenant = need(str(a, 'tenant'), '--tenant', REPORT_USAGE);
  const out = need(str(a, 'out'), '--out', REPORT_USAGE);
  const stats = client(StatsService, a, 120_000);
  try {
    const s = (await stats.getCampaignStats({ tenant, campaign })).stats!;
    // An empty report of a misspelt campaign would read as a campaign nobody opened.
    if (nothingRecorded(s)) throw new Error(`${NOTHING(tenant, campaign)}; no report written`);
    const hourly = (await stats.getTimeSeries({ tenant, campaign, granularity: Granularity.HOUR })).series!;
    const starts = hourly.points.map((p) => Number(p.bucketStartUnixMs));
    // More than three days of hours read better as days.
    const daily = starts.length > 0 && Math.max(...starts) - Math.min(...starts) > 72 * 3_600_000;
    const series = daily ? (await stats.getTimeSeries({ tenant, campaign, granularity: Granularity.DAY })).series! : hourly;
    const links = await stats.getLinkStats({ tenant, campaign });
    const evidence = new Map<string, { reason: string; source: Source; events: number }>();
    let eventsRead = 0;
    let pageToken = '';
    do {
      const page = await stats.listEvents({ filter: { tenant, campaign }, pageSize: 1000, pageToken });
      for (const e of page.events) {
        eventsRead++;
        const v = e.verdict;
        if (!v || v.source === Source.HUMAN || v.source === Source.UNSPECIFIED) continue;
        const reason = v.reasons[0] ?? '(no reason given)';
        const k = `${v.source}\u0000${reason}`;
        const row = evidence.get(k) ?? { reason, source: v.source, events: 0 };
        row.events++;
        evidence.set(k, row);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    const html = renderReport({
      stats: s,
      series,
      bucketMs: daily ? 86_400_000 : 3_600_000,
      links,
      evidence: [...evidence.values()].sort((x, y) => y.events - x.events || x.reason.localeCompare(y.reason)).slice(0, 15),
      eventsRead,
      generatedAt: new Date(),
    });
    writeFileSync(out, html);
    process.stderr.write(`wrote ${out}: campaign ${campaign}, ${s.delivered} delivered, ${eventsRead} stored events read\n`);
  } finally {
    closeClient(stats);
  }
}
