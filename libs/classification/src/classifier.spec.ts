import { describe, expect, it } from 'vitest';
import { Actor, Source } from '@winnow/proto';
import { Classifier } from './classifier';
import { networkOf } from './net/networks';
import type { TraceEvent } from './trace-event';
import { classifyUserAgent } from './user-agent';

const T0 = Date.UTC(2026, 2, 2, 10, 0, 0);
let n = 0;
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1';
const SAFE_LINKS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.54 Safari/537.36';
const browser = (ua: string) => ({ 'user-agent': ua, 'accept-language': 'en-US,en;q=0.9', 'sec-fetch-mode': 'navigate', ...(ua.includes('Safari/604') ? {} : { 'sec-fetch-user': '?1' }) });

function ev(p: Partial<TraceEvent> & { afterMs: number }): TraceEvent {
  return {
    id: `e${n++}`,
    tenant: 't',
    campaign: 'c',
    message: p.message ?? 'm1',
    recipientDomain: '',
    deliveredAtMs: T0,
    links: 4,
    kind: p.kind ?? 'click',
    link: p.link ?? 0,
    linkRole: p.linkRole ?? 'content',
    atMs: T0 + p.afterMs,
    method: p.method ?? 'GET',
    ip: p.ip ?? '203.0.113.10',
    headers: p.headers ?? browser(CHROME),
  };
}

const verdicts = (events: TraceEvent[]) => new Classifier().classify(events).verdicts.map((v) => Source[v.decision.source]);

describe('network and user-agent data', () => {
  it('knows the published ranges and networks', () => {
    expect(networkOf('104.28.28.5').appleRelay).toBe(true);
    expect(networkOf('40.107.1.1').microsoftEop).toBe(true);
    expect(networkOf('40.94.30.11').category).toBe('microsoft');
    expect(networkOf('66.249.84.10').asn).toBe(15169);
    expect(networkOf('203.0.113.10')).toEqual({ appleRelay: false, googleSpecialCrawler: false, microsoftEop: false });
    expect(networkOf('not an ip').category).toBeUndefined();
    expect(classifyUserAgent('Mozilla/5.0').kind).toBe('apple_mpp');
    expect(classifyUserAgent(SAFE_LINKS).stale).toMatch(/Safe Links/);
    expect(classifyUserAgent(CHROME)).toMatchObject({ kind: 'browser' });
    expect(classifyUserAgent('Barracuda Sentinel (EE)').kind).toBe('scanner');
  });
});

describe('classifier', () => {
  it('tells the documented actors apart', () => {
    const cases: Array<[string, TraceEvent, string]> = [
      ['Apple MPP prefetch', ev({ kind: 'open', afterMs: 3_600_000, ip: '104.28.28.5', headers: { 'user-agent': 'Mozilla/5.0' } }), 'APPLE_MPP'],
      ['Gmail image proxy is a person', ev({ kind: 'open', afterMs: 5_000_000, ip: '66.249.84.10', headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)' } }), 'HUMAN'],
      ['Safari click through Private Relay', ev({ afterMs: 7_200_000, ip: '104.28.28.9', headers: browser(SAFARI) }), 'HUMAN'],
      ['person on an Azure desktop', ev({ afterMs: 1_800_000, ip: '40.94.30.11', headers: browser('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0') }), 'HUMAN'],
      ['person reading within a minute', ev({ afterMs: 40_000, headers: browser(CHROME) }), 'HUMAN'],
      ['stale Chrome from Microsoft, no language, 40 s', ev({ afterMs: 40_000, ip: '40.94.30.11', headers: { 'user-agent': SAFE_LINKS, accept: '*/*' } }), 'SECURITY_SCANNER'],
      ['Slack preview', ev({ afterMs: 9_000_000, headers: { 'user-agent': 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' } }), 'LINK_PREVIEW'],
      ['python script', ev({ afterMs: 9_000_000, headers: { 'user-agent': 'python-requests/2.32.3' } }), 'BOT'],
      ['Node http.get sends no user-agent', ev({ afterMs: 9_000_000, headers: {} }), 'BOT'],
      ['declared prefetch', ev({ afterMs: 9_000_000, headers: { ...browser(CHROME), 'sec-purpose': 'prefetch' } }), 'BOT'],
      ['Yahoo proxy', ev({ afterMs: 60_000, headers: { 'user-agent': 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html' } }), 'YAHOO_PROXY'],
    ];
    for (const [name, e, source] of cases) expect(verdicts([e])[0], name).toBe(source);
  });

  it('sees a scanner burst and the trap link, and keeps the person who clicks later', () => {
    const scanner = { ip: '40.107.5.5', headers: { 'user-agent': CHROME, accept: '*/*' } };
    const events = [
      ev({ ...scanner, afterMs: 43_000, link: 0 }),
      ev({ ...scanner, afterMs: 43_300, link: 1 }),
      ev({ ...scanner, afterMs: 43_500, link: 2, linkRole: 'unsubscribe' }),
      ev({ ...scanner, afterMs: 43_700, link: 3, linkRole: 'honeypot' }),
      ev({ afterMs: 900_000, link: 0, ip: '198.51.100.7', headers: browser(CHROME) }),
    ];
    expect(verdicts(events)).toEqual(['SECURITY_SCANNER', 'SECURITY_SCANNER', 'SECURITY_SCANNER', 'SECURITY_SCANNER', 'HUMAN']);
  });

  it('calls a click-time scan from a vendor network automated and the person after it human', () => {
    const events = [
      ev({ afterMs: 600_000, ip: '66.159.227.5', headers: browser(CHROME) }),
      ev({ afterMs: 602_500, ip: '198.51.100.8', headers: browser(CHROME) }),
    ];
    expect(networkOf('66.159.227.5').category).toBe('security_vendor');
    expect(verdicts(events)).toEqual(['SECURITY_SCANNER', 'HUMAN']);
  });

  it('treats Office discovery around a click as a helper and the click as a person', () => {
    const ip = '198.51.100.31';
    const events = [
      ev({ method: 'OPTIONS', afterMs: 80_000_000, ip, headers: { 'user-agent': 'Microsoft Office Protocol Discovery' } }),
      ev({ method: 'HEAD', afterMs: 80_000_300, ip, headers: { 'user-agent': 'Microsoft Office Existence Discovery' } }),
      ev({ afterMs: 80_001_000, ip, headers: browser(CHROME) }),
    ];
    expect(verdicts(events)).toEqual(['CLIENT_HELPER', 'CLIENT_HELPER', 'HUMAN']);
  });

  it('withdraws an earlier click when a burst from the same address shows up later, as a revision', () => {
    const c = new Classifier();
    const ip = '192.0.2.44';
    const first = c.classify([ev({ afterMs: 50_000, link: 0, ip, headers: browser(CHROME) })]);
    expect(first.verdicts[0]!.decision.actor).toBe(Actor.HUMAN);
    const later = c.classify([ev({ afterMs: 50_400, link: 1, ip, headers: browser(CHROME) }), ev({ afterMs: 50_800, link: 3, linkRole: 'honeypot', ip, headers: browser(CHROME) })]);
    expect(later.revised).toHaveLength(1);
    expect(later.revised[0]).toMatchObject({ revision: 1, decision: { actor: Actor.AUTOMATED } });
    expect(later.revised[0]!.event.id).toBe(first.verdicts[0]!.event.id);
    // A retried batch gets the verdicts it got before, with no new revision.
    const again = c.classify([first.verdicts[0]!.event]);
    expect(again.verdicts[0]).toMatchObject({ revision: 1, decision: { actor: Actor.AUTOMATED } });
    expect(again.revised).toHaveLength(0);
    // In full: the history keeps no reasons once a verdict went out, and writes them again.
    expect(again.verdicts[0]!.decision).toEqual(later.revised[0]!.decision);
    expect(again.verdicts[0]!.decision.reasons.length).toBeGreaterThan(0);
    const retriedLater = c.classify([later.verdicts[1]!.event]);
    expect(retriedLater.verdicts[0]!.decision).toEqual(later.verdicts[1]!.decision);
  });

  it('flags one address following links for many recipients within a minute', () => {
    const ip = '192.0.2.99';
    const events = ['m1', 'm2', 'm3', 'm4'].map((message, i) => ev({ message, afterMs: 3_600_000 + i * 5_000, ip, headers: { 'user-agent': CHROME, 'accept-language': 'en' } }));
    expect(verdicts(events)).toEqual(['BOT', 'BOT', 'BOT', 'BOT']);
  });

  it('finds fan-out whatever the arrival order and batch split, and only within the window', () => {
    const ip = '192.0.2.98';
    const click = (message: string, afterMs: number) => ev({ message, afterMs, ip, headers: { 'user-agent': CHROME, 'accept-language': 'en' } });
    const events = [click('m1', 3_600_000), click('m2', 3_605_000), click('m3', 3_610_000), click('m4', 3_615_000)];
    const late = click('m5', 3_615_000 + 61_000 + 60_000);
    const c = new Classifier();
    const final = new Map<string, Source>();
    // Newest first, one event a batch: the first verdicts are human, revisions turn them.
    for (const e of [late, ...events].reverse()) {
      const r = c.classify([e]);
      for (const v of [...r.verdicts, ...r.revised]) final.set(v.event.message, v.decision.source);
    }
    expect(Object.fromEntries(final)).toEqual({ m1: Source.BOT, m2: Source.BOT, m3: Source.BOT, m4: Source.BOT, m5: Source.HUMAN });
  });

  it('forgets the oldest messages past maxMessages and keeps classifying', () => {
    const c = new Classifier({ maxMessages: 2 });
    const ip = '192.0.2.45';
    const m1 = ev({ message: 'old-1', afterMs: 50_000, ip });
    const first = c.classify([m1]).verdicts[0]!;
    c.classify([ev({ message: 'old-2', afterMs: 51_000, ip: '192.0.2.46' }), ev({ message: 'old-3', afterMs: 52_000, ip: '192.0.2.47' })]);
    expect(first.decision.actor).toBe(Actor.HUMAN);
    // old-1 is forgotten: the trap hit from the same address revises nothing, and the retried
    // event is decided afresh (with the trap hit now in its history), not answered from memory.
    const trap = c.classify([ev({ message: 'old-1', afterMs: 50_300, link: 3, linkRole: 'honeypot', ip })]);
    expect(trap.revised).toHaveLength(0);
    expect(trap.verdicts[0]!.decision.actor).toBe(Actor.AUTOMATED);
    const retried = c.classify([m1]);
    expect(retried.verdicts[0]).toMatchObject({ revision: 0, decision: { actor: Actor.AUTOMATED } });
    // A held message still answers a retry with the verdict it has.
    const held = ev({ message: 'old-3', afterMs: 52_500, ip: '192.0.2.47' });
    const once = c.classify([held]).verdicts[0]!;
    expect(c.classify([held]).verdicts[0]).toEqual(once);
  });
});
