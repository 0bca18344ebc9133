import { Source } from '@winnow/proto';
import { isCountable } from '@winnow/engagement';
import { networkOf, type NetworkInfo } from './net/networks';
import type { TraceEvent } from './trace-event';
import { classifyUserAgent, type UaInfo } from './user-agent';
import { automated, human, type Decision } from './verdict';

/** What the rest of the trace says about one event (filled in by the classifier from history). */
export interface EventContext {
  /** Same IP, same message: requests and distinct links within BURST_WINDOW_MS of this one. */
  burstRequests: number;
  burstLinks: number;
  burstSpanMs: number;
  /** Same IP followed this message's hidden trap link within TAINT_WINDOW_MS. */
  sameIpHitTrap: boolean;
  /** Another IP requested the same link within PRECURSOR_WINDOW_MS after this one (a click-time scan before the person). */
  followedByOtherIp: boolean;
  /** Office helper requests from the same IP just before (a person clicking in Office). */
  officeHelperBefore: boolean;
  /** Distinct messages of the campaign this IP requested links of within FANOUT_WINDOW_MS. */
  fanoutMessages: number;
  /**
   * How long before this event (ms) the same address and user-agent were last proven automated in
   * this tenant (a trap hit or a burst, in any campaign), within MEMORY_WINDOW_MS; -1 when not.
   */
  provenBeforeMs: number;
}

export const BURST_WINDOW_MS = 2_000;
export const TAINT_WINDOW_MS = 120_000;
export const PRECURSOR_WINDOW_MS = 10_000;
export const FANOUT_WINDOW_MS = 60_000;
/** Recipients one address must follow links of within FANOUT_WINDOW_MS to count as fan-out (counted up to here). */
export const FANOUT_RECIPIENTS = 3;
/** How long a tenant remembers an (address, user-agent) pair proven automated by a trap hit or a burst. */
export const MEMORY_WINDOW_MS = 30 * 86_400_000;
/**
 * Google's image proxy fetching this soon after sending is Gmail's own prefetch, not a person's
 * open (published reports: opens counted seconds after sending to Google mailboxes). The token's send
 * time stands for delivery (docs/classification.md).
 */
export const GMAIL_PREFETCH_WINDOW_MS = 15_000;


function networkReason(n: NetworkInfo): string | undefined {
  if (n.appleRelay) return 'network: Apple iCloud Private Relay egress';
  if (n.googleSpecialCrawler) return 'network: Google special crawlers';
  if (n.microsoftEop) return 'network: Microsoft Exchange Online Protection';
  if (n.asn !== undefined && n.category) return `network: AS${n.asn} (${n.org})`;
  return undefined;
}

const seconds = (ms: number) =>
  ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 3_600_000 ? `${Math.round(ms / 1000)} s` : ms < 172_800_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 86_400_000).toFixed(1)} days`;

/**
 * The rules. Signatures that settle the question come first; otherwise evidence is weighed as
 * log-odds (people are the prior: an event is automated only when evidence outweighs it).
 * Every rule, its weight and its source are in docs/classification.md.
 */
export interface EventFeatures {
  ua: UaInfo;
  net: NetworkInfo;
}

/** The per-event lookups decide() needs; the classifier computes them once per event. */
export function featuresOf(e: TraceEvent): EventFeatures {
  return { ua: classifyUserAgent(e.headers['user-agent'] ?? ''), net: networkOf(e.ip) };
}

export function decide(e: TraceEvent, ctx: EventContext, features: EventFeatures = featuresOf(e)): Decision {
  const { ua, net } = features;
  const netReason = networkReason(net);
  const since = e.deliveredAtMs > 0 ? e.atMs - e.deliveredAtMs : undefined;
  const withNet = (reasons: string[]) => {
    if (netReason) reasons.push(netReason);
    if (since !== undefined) reasons.push(`${seconds(Math.max(0, since))} after delivery`);
    return reasons;
  };
  const vendorNet = net.category === 'security_vendor' || net.microsoftEop || net.googleSpecialCrawler;
  // Mail-protection services send no user-agent, or a browser's, from their own ranges.
  const protectionNet = vendorNet || net.category === 'microsoft';
  const scannerSource = ua.kind === 'script' || ua.kind === 'crawler' || (ua.kind === 'empty' && !protectionNet) ? Source.BOT : Source.SECURITY_SCANNER;

  // Requests that are never a person's open or click.
  const office = ua.kind === 'office_discovery' || ua.kind === 'office_app';
  if (e.method === 'OPTIONS' || e.method === 'HEAD') {
    if (office || ctx.officeHelperBefore) return automated(Source.CLIENT_HELPER, 0.95, withNet([`${e.method} from Office around a person's click`]));
    if (ua.kind === 'preview') return automated(Source.LINK_PREVIEW, 0.95, withNet([`${e.method} from ${ua.name}`]));
    return automated(scannerSource, 0.93, withNet([`${e.method} request: never a person's click`, `user-agent: ${ua.name}`]));
  }
  if (e.method !== 'GET') return automated(Source.BOT, 0.9, withNet([`${e.method} request`]));
  if (!isCountable(e.method, e.headers)) return automated(Source.BOT, 0.9, withNet(['declared prefetch (Sec-Purpose/Purpose header)']));

  // Settled by the user-agent.
  if (ua.kind === 'gmail_proxy') {
    if (e.kind === 'click') return automated(Source.SECURITY_SCANNER, 0.9, withNet(["Google's image proxy following a link: no person clicks through it"]));
    // The time since sending is weighed, not only cut: the sooner the fetch, the surer it is Gmail's
    // prefetch (reports put it at 1-4 s); near the window's end either is plausible, and a person's
    // open is sure only a minute or more after sending.
    if (since !== undefined && since < GMAIL_PREFETCH_WINDOW_MS) {
      const t = Math.max(0, since);
      const p = t <= 5_000 ? 0.9 : 0.9 - (0.3 * (t - 5_000)) / (GMAIL_PREFETCH_WINDOW_MS - 5_000);
      return automated(Source.GMAIL_PREFETCH, round(p), withNet([`Google image proxy ${seconds(t)} after sending: Gmail fetching before anyone could have read it`]));
    }
    const p = since === undefined || since >= 60_000 ? 0.95 : 0.6 + (0.35 * (since - GMAIL_PREFETCH_WINDOW_MS)) / (60_000 - GMAIL_PREFETCH_WINDOW_MS);
    return human(round(p), withNet(['Google image proxy: fetched because a person opened the message in Gmail']));
  }
  if (e.kind === 'click' && e.linkRole === 'honeypot') return automated(scannerSource, 0.99, withNet(['hidden trap link followed: no person can see it', `user-agent: ${ua.name}`]));
  if (ua.kind === 'apple_mpp') {
    if (e.kind === 'open') return automated(Source.APPLE_MPP, net.appleRelay ? 0.99 : 0.93, withNet(['user-agent is exactly "Mozilla/5.0": Apple Mail Privacy Protection prefetch']));
    return automated(Source.BOT, 0.85, withNet(['bare "Mozilla/5.0" user-agent following a link']));
  }
  if (ua.kind === 'gmail_prefetch') return automated(Source.GMAIL_PREFETCH, 0.97, withNet(['Gmail prefetch user-agent']));
  if (ua.kind === 'google_fetcher') {
    if (e.kind === 'click') return automated(Source.SECURITY_SCANNER, 0.93, withNet([`${ua.name}: Google following the link, not a person's browser`]));
    return automated(Source.GMAIL_PREFETCH, 0.93, withNet([`${ua.name}: Google reading the message, not a person opening it`]));
  }
  if (ua.kind === 'yahoo_proxy') return automated(Source.YAHOO_PROXY, 0.97, withNet(['Yahoo mail proxy fetching content']));
  if (ua.kind === 'scanner') return automated(Source.SECURITY_SCANNER, 0.98, withNet([`security scanner user-agent: ${ua.name}`]));
  if (ua.kind === 'preview' && ua.selfDescribed) {
    // A previewer in no list is one when it behaves like one: a single fetch of the message's links,
    // without the headers of a navigation (issue 12). One that walks the links is a crawler; one that
    // navigates like a browser with a browser's string is weighed as a browser (below).
    const navigates = e.headers['sec-fetch-user'] === '?1' || e.headers['sec-fetch-mode'] === 'navigate' || e.headers['upgrade-insecure-requests'] === '1';
    if (ctx.burstLinks >= 2) return automated(Source.BOT, 0.9, withNet([`calls itself a previewer (${ua.name}) but fetched ${ctx.burstLinks} of the message's links within ${seconds(ctx.burstSpanMs)}: a crawler`]));
    if (!navigates) return automated(Source.LINK_PREVIEW, 0.95, withNet([`calls itself a previewer, and fetched as one (one link, no navigation headers)`]));
    if (ua.selfDescribed !== 'browser') return automated(Source.BOT, 0.85, withNet(['calls itself a previewer but sends navigation headers without a browser\'s string']));
  } else if (ua.kind === 'preview') return automated(Source.LINK_PREVIEW, 0.97, withNet([`link preview: ${ua.name}`]));
  if (ua.kind === 'office_discovery') return automated(Source.CLIENT_HELPER, 0.93, withNet(["Office discovery around a person's click"]));
  if (ua.kind === 'office_app' && e.kind === 'click') return automated(Source.CLIENT_HELPER, 0.9, withNet([`${ua.name} checking the link before the person's browser opens it`]));
  if (ua.kind === 'outlook_webview' && e.kind === 'click') {
    return automated(Source.SECURITY_SCANNER, 0.9, withNet(["new Outlook's own web view fetching the link (OneOutlook): the program checking it, not the person's browser"]));
  }
  if (ua.kind === 'script') return automated(Source.BOT, 0.97, withNet([`script or headless browser: ${ua.name}`]));
  if (ua.kind === 'empty') {
    // Mail-protection services fetch with no user-agent at all from their own ranges.
    if (protectionNet) return automated(Source.SECURITY_SCANNER, 0.93, withNet(['no user-agent, from a mail-protection network']));
    return automated(Source.BOT, 0.93, withNet(['no user-agent']));
  }
  if (ua.kind === 'crawler') return automated(Source.BOT, 0.95, withNet([`crawler user-agent (${ua.name})`]));

  // Settled by the message's history.
  if (ctx.sameIpHitTrap) return automated(scannerSource, 0.97, withNet(['same address followed the hidden trap link of this message']));
  if (e.kind === 'click' && ctx.burstLinks >= 3) {
    return automated(scannerSource, 0.96, withNet([`burst: ${ctx.burstLinks} links in ${seconds(ctx.burstSpanMs)} from one address`]));
  }

  // Weighed evidence, as log-odds of "automated".
  let score = -2.5;
  const reasons: Array<[number, string]> = [];
  const add = (w: number, why: string) => {
    score += w;
    reasons.push([w, why]);
  };
  if (e.kind === 'click') {
    if (ctx.burstLinks === 2 && ctx.burstSpanMs <= 1_000) add(1.6, `2 links in ${seconds(ctx.burstSpanMs)} from one address`);
    else if (ctx.burstRequests >= 3) add(1.2, `${ctx.burstRequests} requests in ${seconds(ctx.burstSpanMs)} from one address`);
    if (ctx.followedByOtherIp && vendorNet) add(3.5, 'scanned this link seconds before another address followed it (click-time scan)');
    else if (ctx.followedByOtherIp && net.category) add(1.2, 'fetched this link seconds before another address did');
    if (ctx.fanoutMessages >= FANOUT_RECIPIENTS) add(2.6, `one address followed links of ${FANOUT_RECIPIENTS} or more recipients of this campaign within a minute`);
    if (since !== undefined && since < 10_000) add(1.6, `${seconds(Math.max(0, since))} after delivery`);
    else if (since !== undefined && since < 120_000) add(0.9, `${seconds(since)} after delivery`);
  } else if (since !== undefined && since < 10_000) add(0.4, `${seconds(Math.max(0, since))} after delivery`);
  if (net.category === 'security_vendor') add(1.8, netReason!);
  else if (net.microsoftEop || net.googleSpecialCrawler) add(1.6, netReason!);
  else if (net.category === 'microsoft' || net.category === 'google') add(0.7, netReason!);
  else if (net.category === 'cloud') add(1.0, netReason!);
  if (ua.stale) add(ua.staleWeight ?? 1.1, ua.stale);
  if (ua.kind === 'other' || (ua.kind === 'native_app' && e.kind === 'click')) add(0.6, 'unrecognised user-agent');
  if (e.kind === 'click' && (ua.kind === 'browser' || ua.kind === 'other' || ua.selfDescribed)) {
    const lang = e.headers['accept-language'];
    if (!lang || lang === '*') add(0.8, 'no Accept-Language');
    else add(-0.4, 'Accept-Language sent');
    if (e.headers['sec-fetch-user'] === '?1') add(-1.5, 'Sec-Fetch-User: a user-initiated navigation');
    // Chrome (76+), Edge and Firefox (90+) send Sec-Fetch-* on every navigation; a client that claims
    // to be one of them and sends none is imitating a browser. Safari is exempt (older Safari sends none).
    if (e.headers['sec-fetch-mode'] === undefined && /Chrome\/(?:[89]\d|1\d\d)\.|Firefox\/(?:9\d|1\d\d)\./.test(e.headers['user-agent'] ?? '')) {
      add(1.0, 'claims a modern Chrome or Firefox but sends no Sec-Fetch headers');
    }
    if (e.headers['sec-fetch-mode'] === 'navigate') add(-0.3, 'Sec-Fetch-Mode: navigate');
  }
  if (net.appleRelay && e.kind === 'click' && ua.kind === 'browser') add(-1.0, 'Safari through iCloud Private Relay');
  if ((ua.kind === 'mail_client' || ua.kind === 'office_app' || ua.kind === 'outlook_webview' || ua.kind === 'native_app') && e.kind === 'open') {
    add(-0.8, `${ua.kind === 'office_app' || ua.kind === 'outlook_webview' ? ua.name : `a ${ua.name}`} fetching the message's images`);
  }
  if (ctx.officeHelperBefore) add(-0.8, 'Office discovery just before: a person clicking in Office');
  if (ctx.provenBeforeMs >= 0) add(3.0, `this address and user-agent were proven automated (trap link or burst) ${seconds(ctx.provenBeforeMs)} earlier`);

  const p = 1 / (1 + Math.exp(-score));
  const strongest = reasons.filter(([w]) => (p >= 0.5 ? w > 0 : w < 0)).sort((a, b) => Math.abs(b[0]) - Math.abs(a[0])).map(([, why]) => why);
  if (p >= 0.5) {
    // Gateways run from their vendors' and the big mail providers' networks, often on stale builds.
    const gateway = vendorNet || ua.stale?.startsWith('browser build seen') === true || net.category === 'microsoft' || net.category === 'google';
    // A pair the tenant caught at a trap or in a burst keeps the source it was caught as.
    const source = gateway ? Source.SECURITY_SCANNER : ctx.provenBeforeMs >= 0 ? scannerSource : Source.BOT;
    return automated(source, round(p), strongest.length ? strongest : ['automated evidence outweighs the prior']);
  }
  const why = strongest.length ? strongest : [`no automated signature (user-agent: ${ua.name})`];
  if (netReason && !why.includes(netReason)) why.push(netReason);
  return human(round(1 - p), why);
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export type { UaInfo };
