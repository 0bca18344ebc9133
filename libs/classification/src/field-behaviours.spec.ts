import { describe, expect, it } from 'vitest';
import { Source } from '@winnow/proto';
import { Classifier } from './classifier';
import type { TraceEvent } from './trace-event';

// Each case is built from a string published by somebody else (the URL is beside it); the behaviour
// it pins down is issue 12's. The field corpus (test/fixtures/field) holds these and many more.
const T0 = Date.UTC(2026, 2, 2, 10, 0, 0);
const HOME = '203.0.113.10';
let n = 0;
function ev(p: Partial<TraceEvent> & { afterMs: number; ua?: string }): TraceEvent {
  return {
    id: `b${n++}`,
    tenant: p.tenant ?? 't',
    campaign: p.campaign ?? 'c',
    message: p.message ?? 'm1',
    recipientDomain: '',
    deliveredAtMs: p.deliveredAtMs ?? T0,
    links: 4,
    kind: p.kind ?? 'click',
    link: p.link ?? 0,
    linkRole: p.linkRole ?? 'content',
    atMs: (p.deliveredAtMs ?? T0) + p.afterMs,
    method: p.method ?? 'GET',
    ip: p.ip ?? HOME,
    headers: p.headers ?? (p.ua !== undefined ? { 'user-agent': p.ua } : {}),
  };
}
const sources = (events: TraceEvent[], c = new Classifier()) => c.classify(events).verdicts.map((v) => Source[v.decision.source]);
const one = (e: TraceEvent) => sources([e])[0];

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
const navigate = (ua: string) => ({ 'user-agent': ua, 'accept-language': 'en-US,en;q=0.9', 'sec-fetch-mode': 'navigate', 'sec-fetch-user': '?1', accept: 'text/html' });

describe('people reading in Outlook and in mail apps', () => {
  // https://github.com/gophish/gophish/issues/1920 (the poster's own Outlook open)
  const OUTLOOK_IE = 'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; .NET CLR 2.0.50727; .NET CLR 3.0.30729; .NET CLR 3.5.30729; Microsoft Outlook 16.0.9126; Microsoft Outlook 16.0.9126; ms-office; MSOffice 16)';
  // uap-core tests/test_ua.yaml, Outlook family
  const OUTLOOK_OFFICE = 'Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)';

  it('an Outlook for Windows image fetch (ms-office / MSOffice tokens) is the person opening it', () => {
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: OUTLOOK_IE }))).toBe('HUMAN');
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: OUTLOOK_OFFICE }))).toBe('HUMAN');
    // Opened within a minute of delivery, still a person: opens are not condemned by timing alone.
    expect(one(ev({ kind: 'open', afterMs: 40_000, ua: OUTLOOK_IE }))).toBe('HUMAN');
  });

  it("Office's own requests around a click stay helpers, and the person's browser after them is the click", () => {
    // https://github.com/indico/indico/issues/4720: HEAD with "ms-office", then Firefox a second later.
    const events = [
      ev({ afterMs: 3_600_000, method: 'OPTIONS', ua: 'Microsoft Office Protocol Discovery' }),
      ev({ afterMs: 3_600_200, method: 'HEAD', ua: 'Mozilla/4.0 (compatible; ms-office)' }),
      ev({ afterMs: 3_600_400, ua: OUTLOOK_OFFICE }),
      ev({ afterMs: 3_601_000, headers: navigate('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:83.0) Gecko/20100101 Firefox/83.0') }),
    ];
    expect(sources(events)).toEqual(['CLIENT_HELPER', 'CLIENT_HELPER', 'CLIENT_HELPER', 'HUMAN']);
  });

  it("the new Outlook for Windows' web view is a person reading, and its own fetch of a link is automated", () => {
    // https://github.com/nextauthjs/next-auth/issues/1840: "example headers from the new outlook on windows 11"
    const ONE_OUTLOOK = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 Edg/117.0.2045.47 OneOutlook/1.2023.927.100';
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: ONE_OUTLOOK }))).toBe('HUMAN');
    expect(one(ev({ kind: 'open', afterMs: 30_000, ua: ONE_OUTLOOK }))).toBe('HUMAN');
    // The link fetched by the program itself, even with browser headers, then the person's Edge.
    const events = [
      ev({ afterMs: 3_600_000, headers: { ...navigate(ONE_OUTLOOK), 'x-native-host': 'OneOutlook/1.2023.927.100' } }),
      ev({ afterMs: 3_601_000, headers: navigate('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0') }),
    ];
    expect(sources(events)).toEqual(['SECURITY_SCANNER', 'HUMAN']);
  });

  it('mail apps whose user-agent is no browser string are people', () => {
    const apps = [
      'YahooMobileMail/1.0 (Android Mail; 1.3.10) (supersonic;HTC;PC36100;2.3.5/GRJ90)', // uap-core test_ua.yaml
      'mobmail android 6.1.0.23122 ru.mail.mailapp', // browscap tests, issue 1628
      'Mail/3731.600.7 CFNetwork/1408.0.4 Darwin/22.5.0', // Apple Mail through CFNetwork, device-detector fixtures
      'Airmail%203/420 CFNetwork/811.4.18 Darwin/16.5.0 (x86_64)', // device-detector pim fixtures
      'Mozilla/4.0 (compatible; Lotus-Notes/6.0; Windows-NT)', // device-detector pim fixtures
      'WindowsMail/17.5.9600.22013', // Windows Mail, device-detector Tests/Parser/Client/fixtures/pim.yml
    ];
    for (const ua of apps) expect(one(ev({ kind: 'open', afterMs: 7_200_000, ua })), ua).toBe('HUMAN');
  });
});

describe("Google's image proxy, weighed by time since sending", () => {
  const PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
  const GOOGLE = '66.249.84.10';

  it('is a person opening in Gmail in general', () => {
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: GOOGLE, ua: PROXY }))).toBe('HUMAN');
    expect(one(ev({ kind: 'open', afterMs: 15_000, ip: GOOGLE, ua: PROXY }))).toBe('HUMAN');
  });

  it('is Gmail prefetching when it fetches within seconds of the send, before anyone could read it', () => {
    // https://github.com/gophish/gophish/issues/3086: "incremented 4 seconds after it is being sent ... still unread"
    expect(one(ev({ kind: 'open', afterMs: 4_000, ip: GOOGLE, ua: PROXY }))).toBe('GMAIL_PREFETCH');
    expect(one(ev({ kind: 'open', afterMs: 14_999, ip: GOOGLE, ua: PROXY }))).toBe('GMAIL_PREFETCH');
  });

  it('is known by its token in any letter case, as Yahoo\'s proxy is', () => {
    // User-agent directories list both in lower case too (https://github.com/omrilotan/isbot/blob/344052da664bde49579e21f1e62349280791efb3/fixtures/downloaded/user-agents.net.json, "yahoomailproxy").
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: GOOGLE, ua: PROXY.replace('GoogleImageProxy', 'googleimageproxy').replace('(via ggpht.com', '(VIA GGPHT.COM') }))).toBe('HUMAN');
    expect(one(ev({ kind: 'open', afterMs: 4_000, ip: GOOGLE, ua: PROXY.toLowerCase() }))).toBe('GMAIL_PREFETCH');
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: '2001:db8::7', ua: 'yahoomailproxy' }))).toBe('YAHOO_PROXY');
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: '2001:db8::7', ua: 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html' }))).toBe('YAHOO_PROXY');
  });

  it("is automated when Gmail's frozen browser string carries another of Google's tokens (content sampling), on an open or a link", () => {
    // https://github.com/mssola/user_agent/issues/71: "... Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Gmail-content-sampling"
    // (a held-out line of the field corpus: the issue names the behaviour, this is its one published string).
    const FROZEN = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246';
    expect(one(ev({ kind: 'click', afterMs: 600_000, ip: GOOGLE, ua: `${FROZEN} Gmail-content-sampling` }))).toBe('SECURITY_SCANNER');
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: GOOGLE, ua: `${FROZEN} Gmail-content-sampling` }))).toBe('GMAIL_PREFETCH');
    // Any other token after the pair too, from any address: no released Edge carried Chrome 42 with EdgeHTML 12.246.
    expect(one(ev({ kind: 'click', afterMs: 600_000, ip: '2001:db8::9', ua: `${FROZEN} Google-Link-Check/1.0` }))).toBe('SECURITY_SCANNER');
    // The prefetch string itself stays the prefetch.
    expect(one(ev({ kind: 'open', afterMs: 600_000, ip: GOOGLE, ua: `${FROZEN} Mozilla/5.0` }))).toBe('GMAIL_PREFETCH');
  });

  it('weighs the time since sending: the surer the sooner for the prefetch, the surer the later for a person', () => {
    const conf = (afterMs: number, deliveredAtMs?: number) => new Classifier().classify([ev({ kind: 'open', afterMs, ip: GOOGLE, ua: PROXY, ...(deliveredAtMs !== undefined ? { deliveredAtMs } : {}) })]).verdicts[0]!.decision;
    const [at2, at12, at20, at600] = [2_000, 12_000, 20_000, 600_000].map((t) => conf(t));
    expect([at2!.source, at12!.source, at20!.source, at600!.source].map((x) => Source[x])).toEqual(['GMAIL_PREFETCH', 'GMAIL_PREFETCH', 'HUMAN', 'HUMAN']);
    expect(at2!.confidence).toBeGreaterThan(at12!.confidence);
    expect(at600!.confidence).toBeGreaterThan(at20!.confidence);
    // No send time: a person, as sure as a late open.
    expect(conf(1_000, 0).confidence).toBe(at600!.confidence);
  });

  it('is a person when the send time is unknown, and automated when it follows a link', () => {
    expect(one(ev({ kind: 'open', afterMs: 1_000, deliveredAtMs: 0, ip: GOOGLE, ua: PROXY }))).toBe('HUMAN');
    expect(one(ev({ kind: 'click', afterMs: 600_000, ip: GOOGLE, ua: PROXY }))).toBe('SECURITY_SCANNER');
  });
});

describe('scanners that look like browsers, and the people on the same networks', () => {
  it("a security vendor's browser is a person's browser", () => {
    // Avast Secure Browser and Norton Secure Browser name their vendor in an otherwise ordinary Chrome string.
    for (const ua of [`${CHROME} Avast/142.0.0.0`, `${CHROME} Norton/142.0.0.0`]) expect(one(ev({ afterMs: 600_000, headers: navigate(ua) })), ua).toBe('HUMAN');
    expect(one(ev({ afterMs: 600_000, ua: 'Kaspersky Lab CFR link resolver cfradmins@kaspersky.com' }))).toBe('SECURITY_SCANNER');
  });

  it('a browser string with a service address appended is automated', () => {
    // device-detector Tests/fixtures/bots.yml (VirusTotal's cloud fetcher)
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36 AppEngine-Google; (+http://code.google.com/appengine; appid: s~virustotalcloud)';
    expect(one(ev({ afterMs: 600_000, ua }))).not.toBe('HUMAN');
  });

  it('a stale Chrome from a Microsoft network with no browser headers is a scanner; a current browser there is a person', () => {
    // https://github.com/gophish/gophish/issues/973: 40.107.218.12, Chrome/57, open and click in the same second
    const stale = { 'user-agent': 'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/57.0.2987.133 Safari/537.36' };
    expect(one(ev({ afterMs: 600_000, ip: '40.107.218.12', headers: stale }))).toBe('SECURITY_SCANNER');
    expect(one(ev({ afterMs: 600_000, ip: '40.94.30.11', headers: navigate(`${CHROME} Edg/142.0.0.0`) }))).toBe('HUMAN');
  });

  it('a cloud network weighs, never decides: a bare current Chrome from a cloud host is automated, the same from home or with browser headers from the cloud a person', () => {
    // 159.89.0.1: DigitalOcean (AS14061) in the bundled ASN table. A click with nothing but a modern
    // Chrome user-agent (no Accept-Language, no Sec-Fetch-*) is weighed; the network tips it.
    const bare = { 'user-agent': CHROME };
    expect(one(ev({ afterMs: 600_000, ip: '159.89.0.1', headers: bare }))).toBe('BOT');
    expect(one(ev({ afterMs: 600_000, ip: HOME, headers: bare }))).toBe('HUMAN');
    // A person on a cloud desktop or VPN, whose browser sends its navigation headers.
    expect(one(ev({ afterMs: 600_000, ip: '159.89.0.1', headers: navigate(CHROME) }))).toBe('HUMAN');
  });

  it('EdgeHTML Edge (legacy, out of support since 2021) weighs as a stale build: a scanner from a Microsoft network, still a person at home', () => {
    // https://stackoverflow.com/questions/35319164 (a link scanner on this string); Microsoft ended
    // support for Edge Legacy on 2021-03-09 and removed it through Windows Update on 2021-04-13.
    const legacy = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2486.0 Safari/537.36 Edge/13.10586';
    expect(one(ev({ afterMs: 600_000, ip: '40.94.30.11', headers: { 'user-agent': legacy, accept: '*/*' } }))).toBe('SECURITY_SCANNER');
    // Windows 10 LTSC still ships it: alone it does not make a person's click automated.
    expect(one(ev({ afterMs: 3_600_000, headers: { 'user-agent': legacy, 'accept-language': 'en-US' } }))).toBe('HUMAN');
  });

  it('a retired browser on a retired system weighs twice: each is evidence of its own', () => {
    // https://robert.accettura.com/blog/2009/12/06/who-indexes-tweets/ (tweet indexers on this string)
    const ie7vista = 'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)';
    expect(one(ev({ afterMs: 600_000, ua: ie7vista }))).toBe('BOT');
    // Either alone, with a browser's language header, stays a person's click.
    expect(one(ev({ afterMs: 600_000, headers: { 'user-agent': 'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1)', 'accept-language': 'en-US' } }))).toBe('HUMAN');
    expect(one(ev({ afterMs: 600_000, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 6.0; rv:52.0) Gecko/20100101 Firefox/52.0', 'accept-language': 'en-US' } }))).toBe('HUMAN');
  });

  it('blank user-agents from Microsoft mail-protection ranges are security_scanner; from elsewhere bot', () => {
    // https://github.com/pglombardo/PasswordPusher/issues/2180: HEAD from 52.102.16.181, no user-agent
    expect(one(ev({ afterMs: 30_000, method: 'HEAD', ip: '52.102.16.181', headers: { connection: 'Keep-Alive' } }))).toBe('SECURITY_SCANNER');
    expect(one(ev({ afterMs: 30_000, ip: '104.47.1.1', headers: {} }))).toBe('SECURITY_SCANNER');
    expect(one(ev({ afterMs: 30_000, ip: HOME, headers: {} }))).toBe('BOT');
  });

  it('a previewer in no named list is link_preview when it calls itself one', () => {
    // monperrus/crawler-user-agents
    expect(one(ev({ afterMs: 600_000, ua: 'ClickUpLinkUnfurler/1.0 (+https://clickup.com)' }))).toBe('LINK_PREVIEW');
    expect(one(ev({ afterMs: 600_000, ua: 'Mozilla/5.0 (compatible; SnapURLPreview/1.0; +https://www.snapchat.com)' }))).toBe('LINK_PREVIEW');
    expect(one(ev({ afterMs: 600_000, ua: 'http.rb/2.2.2 (Mastodon/1.5.0; +https://mstdn.io/)' }))).toBe('LINK_PREVIEW');
  });

  it("a mail word next to a contact address is a service's, not a mail program's", () => {
    // npm crawler-user-agents 1.60.0 (crawler-user-agents.json): crawlers that name themselves with a mail word and a contact.
    for (const ua of [
      'Mozilla/5.0 (compatible; MailChimp; +https://mailchimp.com/)',
      'binlar_2.6.3 larbin2.6.3@unspecified.mail',
      'Mozilla/5.0 (Windows; U; Windows NT 5.0; en-US; rv:1.7.10) Gecko/20050716 Thunderbird/1.0.6 - WebCrawler http://cognitiveseo.com/bot.html',
      'Mozilla/5.0 (Windows NT 6.1; WOW64; https://top.mail.ru/passremind) AppleWebKit/537.22 (KHTML, like Gecko)',
    ]) {
      expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua })), ua).not.toBe('HUMAN');
    }
    // Mail programs themselves carry no contact, and stay people.
    for (const ua of ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1', 'YahooMobileMail/1.0 (Android Mail; 1.4.5)', 'MobileMail/1.0 CFNetwork/1410.0.3 Darwin/22.6.0']) {
      expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua })), ua).toBe('HUMAN');
    }
  });

  it('...and only when it behaves like one: one link, no navigation headers', () => {
    const UNFURL = 'ClickUpLinkUnfurler/1.0 (+https://clickup.com)';
    // Walking the message's links is a crawler's behaviour, whatever the name says.
    expect(sources([ev({ afterMs: 600_000, ua: UNFURL, link: 0 }), ev({ afterMs: 600_400, ua: UNFURL, link: 1 })])).toEqual(['BOT', 'BOT']);
    // The headers of a navigation with no browser's string: not a card builder.
    expect(one(ev({ afterMs: 600_000, headers: navigate(UNFURL) }))).toBe('BOT');
    // A browser's string with a previewer's word in it is weighed as a browser: a person when it
    // navigates like one, a previewer when it fetches like one.
    const EMBEDDED = `${CHROME} ExampleApp-Embed/2.0`;
    expect(one(ev({ afterMs: 600_000, headers: navigate(EMBEDDED) }))).toBe('HUMAN');
    expect(one(ev({ afterMs: 600_000, ua: EMBEDDED }))).toBe('LINK_PREVIEW');
    // A named previewer is one however it fetches (Slack unfurls several links of a message at once).
    expect(sources([ev({ afterMs: 600_000, ua: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', link: 0 }), ev({ afterMs: 600_300, ua: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', link: 1 })])).toEqual(['LINK_PREVIEW', 'LINK_PREVIEW']);
  });

  it('a bot directory files previewers and scanners that name no such word (crawler-user-agents categories)', () => {
    // monperrus/crawler-user-agents, category social-preview: chat and note apps building a card
    expect(one(ev({ afterMs: 600_000, ua: 'Notion/1.0 (https://notion.so; team@makenotion.com)' }))).toBe('LINK_PREVIEW');
    expect(one(ev({ afterMs: 600_000, ua: 'GroupMeBot/1.0' }))).toBe('LINK_PREVIEW');
    // category scanner: URL reputation and threat intelligence
    expect(one(ev({ afterMs: 600_000, ua: 'Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)' }))).toBe('SECURITY_SCANNER');
    // an address harvester is in the scanner category too, and stays a plain bot
    expect(one(ev({ afterMs: 600_000, ua: 'EmailWolf 1.00' }))).toBe('BOT');
    // a bot the directory files under another category stays a plain bot
    expect(one(ev({ afterMs: 600_000, ua: 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)' }))).toBe('BOT');
    // mail programs' image proxies in the directory's preview category keep their own reading
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)' }))).toBe('HUMAN');
    // the directory never turns a browser into a robot: Notion's desktop app is a browser string
    expect(one(ev({ afterMs: 600_000, headers: navigate('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Notion/4.9.0 Chrome/138.0.7204.251 Electron/37.6.0 Safari/537.36') }))).toBe('HUMAN');
  });

  it('a mail program keeps its reading however it spells its name', () => {
    // device-detector Tests/fixtures/mailclient.yml: eM Client writes its name with and without the space
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: 'eM Client/7.2.36908.0' }))).toBe('HUMAN');
    expect(one(ev({ kind: 'open', afterMs: 3_600_000, ua: 'eMClient/9.0.1317.0' }))).toBe('HUMAN');
  });
});

describe("the tenant's memory of proven (address, user-agent) pairs", () => {
  const SCANNER_IP = '198.51.100.77';
  const SCANNER = { 'user-agent': CHROME, accept: '*/*' };
  // A trap hit and a burst in campaign A prove the pair.
  const proof = (at = 0) => [
    ev({ campaign: 'a', message: 'a1', afterMs: at + 30_000, ip: SCANNER_IP, headers: SCANNER, link: 0 }),
    ev({ campaign: 'a', message: 'a1', afterMs: at + 30_300, ip: SCANNER_IP, headers: SCANNER, link: 3, linkRole: 'honeypot' }),
  ];
  // A lone click days later in campaign B, nothing else against it but the missing language header.
  const later = (afterMs: number, ip = SCANNER_IP, headers: Record<string, string> = SCANNER) => ev({ campaign: 'b', message: 'b1', afterMs, ip, headers });

  it('raises later events of the pair in other campaigns', () => {
    expect(sources([...proof(), later(5 * 86_400_000)])).toEqual(['SECURITY_SCANNER', 'SECURITY_SCANNER', 'SECURITY_SCANNER']);
    // Without the proof the same click is a person's.
    expect(sources([later(5 * 86_400_000)])).toEqual(['HUMAN']);
  });

  it('never on the network alone: another user-agent at the same address is judged on its own', () => {
    expect(sources([...proof(), later(5 * 86_400_000, SCANNER_IP, navigate(`${CHROME} Edg/142.0.0.0`))])[2]).toBe('HUMAN');
    expect(sources([...proof(), later(5 * 86_400_000, '198.51.100.78')])[2]).toBe('HUMAN');
    // The same request shape as the scanner's (no browser headers), another browser at the address: a person.
    expect(sources([...proof(), later(5 * 86_400_000, SCANNER_IP, { ...SCANNER, 'user-agent': `${CHROME} Edg/142.0.0.0` })])[2]).toBe('HUMAN');
  });

  it('is proven by a burst across the links as well as by a trap hit', () => {
    const burst = [0, 1, 2].map((link) => ev({ campaign: 'a', message: 'a2', afterMs: 30_000 + link * 200, ip: SCANNER_IP, headers: SCANNER, link }));
    expect(sources([...burst, later(5 * 86_400_000)]).slice(-1)).toEqual(['SECURITY_SCANNER']);
    // Two links are no burst, and prove nothing.
    expect(sources([...burst.slice(0, 2), later(5 * 86_400_000)]).slice(-1)).toEqual(['HUMAN']);
  });

  it("keeps a tenant's proofs when another tenant's many new addresses fill the memory", () => {
    const c = new Classifier({ maxMessages: 50 });
    c.classify(proof());
    // 200 people at 200 addresses in another tenant, in batches: the memory passes its bound four times over.
    for (let b = 0; b < 4; b++) {
      c.classify(Array.from({ length: 50 }, (_, i) => ev({ tenant: 'other', campaign: 'x', message: `x${b}-${i}`, afterMs: 86_400_000 + b * 1_000 + i, ip: `203.0.113.${(b * 50 + i) % 250}`, headers: navigate(CHROME) })));
    }
    expect(c.classify([later(5 * 86_400_000)]).verdicts.map((v) => Source[v.decision.source])).toEqual(['SECURITY_SCANNER']);
  });

  it('lasts 30 days and only reaches forward in time', () => {
    expect(sources([...proof(), later(31 * 86_400_000)])[2]).toBe('HUMAN');
    expect(sources([later(600_000), ...proof(86_400_000)])[0]).toBe('HUMAN');
  });

  it('revises an event already classified when the proof arrives later, whatever the arrival order', () => {
    const c = new Classifier();
    const click = later(5 * 86_400_000);
    expect(c.classify([click]).verdicts.map((v) => Source[v.decision.source])).toEqual(['HUMAN']);
    const { revised } = c.classify(proof());
    expect(revised.map((r) => [r.event.id, Source[r.decision.source], r.revision])).toEqual([[click.id, 'SECURITY_SCANNER', 1]]);
  });
});
