import { browserCorpus, browserHeaders, crawlerCorpus, rng, type LabelledLine } from './labelled-traces';

// Signatures as documented in shared/signals.md (sources there and in docs/classification.md).
const SAFE_LINKS_UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.54 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36',
  'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/57.0.2987.133 Safari/537.36',
];
const GMAIL_PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
const GMAIL_PREFETCH = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0';
const OUTLOOK = 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)';
const APPLE_MAIL_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)';
const PREVIEWS = ['Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', 'Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0', 'TelegramBot (like TwitterBot)'];
const SCRIPTS = ['curl/8.5.0', 'Wget/1.21.4', 'python-requests/2.32.3', 'Python-urllib/3.11', 'Go-http-client/1.1', 'axios/1.7.2', 'node', ''];

// Addresses: documentation nets for homes and offices; vendor and provider nets from the data.
const MS_SCAN_NETS = ['40.94.', '40.107.', '52.100.'];
const PROOFPOINT = '66.159.227.'; // AS26211 Proofpoint (asn-subset.json)
const MIMECAST = '205.139.110.'; // AS30031 Mimecast
const BARRACUDA = '64.235.150.'; // AS15324 Barracuda
const RELAY = '104.28.28.'; // Apple Private Relay egress
const GOOGLE_PROXY = '66.249.84.';
const GOOGLE_CRAWLER = '108.177.2.'; // in Google's special-crawlers list
const AZURE_DESKTOPS = '40.94.';
const CLOUDFLARE_WARP = '104.28.200.'; // AS13335, not in the relay list (checked by the tests)
const CLOUD = '3.91.'; // AS14618 Amazon
const EOP = '52.102.'; // Microsoft EOP (52.100.0.0/14), where blank-user-agent scans come from

// Published strings (sources in test/fixtures/field and docs/classification.md).
const OUTLOOK_IE = 'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; .NET CLR 2.0.50727; .NET CLR 3.0.30729; .NET CLR 3.5.30729; Microsoft Outlook 16.0.9126; Microsoft Outlook 16.0.9126; ms-office; MSOffice 16)';
const OFFICE_LINK_CHECK = 'Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)';
const MAIL_APPS = ['Mail/3731.600.7 CFNetwork/1408.0.4 Darwin/22.5.0', 'YahooMobileMail/1.0 (Android Mail; 1.3.10) (supersonic;HTC;PC36100;2.3.5/GRJ90)', 'mobmail android 6.1.0.23122 ru.mail.mailapp', 'Airmail%203/420 CFNetwork/811.4.18 Darwin/16.5.0 (x86_64)'];

interface MessageOptions {
  /** Another campaign in the same trace (the tenant's memory spans campaigns). */
  campaign?: string;
  /** Delivered this long before the campaign's own messages. */
  earlierMs?: number;
}

interface MessageBuilder {
  add(kind: 'open' | 'click', afterMs: number, method: string, ip: string, headers: Record<string, string>, label: LabelledLine['label'], link?: number, role?: string): void;
}

export interface Campaign {
  name: string;
  lines: LabelledLine[];
}

/**
 * Builds labelled campaigns from the documented signatures and from two public corpora: every
 * browser user-agent in npm `user-agents` (people) and every example in npm `crawler-user-agents`
 * (automated). Deterministic for a seed.
 */
export function buildCampaigns(seed = 2026): Campaign[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const ip = (prefix: string) =>
    prefix === GOOGLE_CRAWLER
      ? `${prefix}${1 + Math.floor(r() * 30)}`
      : `${prefix}${prefix.split('.').length === 4 ? '' : `${1 + Math.floor(r() * 250)}.`}${1 + Math.floor(r() * 250)}`;
  const home = () => `${pick(['203.0.113.', '198.51.100.', '192.0.2.'])}${1 + Math.floor(r() * 250)}`;
  const browsers = browserCorpus();
  const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
  let id = 0;
  const campaigns: Campaign[] = [];

  const campaign = (name: string, build: (msg: (i: number, o?: MessageOptions) => MessageBuilder) => void) => {
    const lines: LabelledLine[] = [];
    class Msg implements MessageBuilder {
      readonly message: string;
      readonly campaign: string;
      readonly deliveredAtMs: number;
      constructor(i: number, o: MessageOptions = {}) {
        this.campaign = o.campaign ?? name;
        this.message = `${this.campaign}-m${i}`;
        this.deliveredAtMs = T0 + i * 250 - (o.earlierMs ?? 0);
      }
      add(kind: 'open' | 'click', afterMs: number, method: string, ipAddr: string, headers: Record<string, string>, label: LabelledLine['label'], link = 0, role = 'content') {
        lines.push({
          id: `ev${id++}`,
          tenant: 'eval-health',
          campaign: this.campaign,
          message: this.message,
          deliveredAt: new Date(this.deliveredAtMs).toISOString(),
          links: 4,
          event: { kind, ...(kind === 'click' ? { link, linkRole: role } : {}), at: new Date(this.deliveredAtMs + afterMs).toISOString(), method, ip: ipAddr, headers },
          label,
        });
      }
    }
    build((i, o) => new Msg(i, o));
    lines.sort((a, b) => Date.parse(a.event.at) - Date.parse(b.event.at));
    campaigns.push({ name, lines });
  };
  const HUMAN = { verdict: 'human', source: 'human' } as const;
  const A = (source: string) => ({ verdict: 'automated', source }) as const;
  const later = () => 300_000 + Math.floor(r() * 2 * 86_400_000); // 5 min to 2 days

  // 1. Every browser of the corpus: a person opening in webmail and clicking.
  campaign('browsers', (msg) => {
    browsers.forEach((b, i) => {
      const m = msg(i);
      const at = later();
      const addr = home();
      m.add('open', at, 'GET', addr, browserHeaders(b.userAgent, b.language, 'image'), HUMAN);
      m.add('click', at + 20_000 + Math.floor(r() * 300_000), 'GET', addr, browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN, Math.floor(r() * 2));
    });
  });

  // 2. Every crawler example: following a link it found.
  campaign('crawlers', (msg) => {
    crawlerCorpus().forEach((ua, i) => {
      msg(i).add('click', later(), 'GET', ip(CLOUD), { 'user-agent': ua, accept: '*/*' }, A('bot'));
    });
  });

  // 3. A reminder campaign to a mixed list, the way it reaches real inboxes.
  for (const [cn, size] of [['reminders-a', 600], ['reminders-b', 400]] as const) {
    campaign(cn, (msg) => {
      for (let i = 0; i < size; i++) {
        const m = msg(i);
        const b = pick(browsers);
        const kind = r();
        if (kind < 0.3) {
          // Apple Mail with Mail Privacy Protection; some click later in Safari through Private Relay.
          m.add('open', 60_000 + Math.floor(r() * 7_200_000), 'GET', ip(RELAY), { 'user-agent': 'Mozilla/5.0' }, A('apple_mpp'));
          if (r() < 0.25) m.add('click', later(), 'GET', ip(RELAY), browserHeaders('Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1', 'en-US', 'navigate'), HUMAN);
        } else if (kind < 0.55) {
          // Gmail: sometimes a prefetch, then the proxy when the person opens; a quarter click.
          const open = later();
          if (r() < 0.05) m.add('open', open - 5_000, 'GET', ip(GOOGLE_CRAWLER), { 'user-agent': GMAIL_PREFETCH, referer: 'http://mail.google.com/' }, A('gmail_prefetch'));
          m.add('open', open, 'GET', ip(GOOGLE_PROXY), { 'user-agent': GMAIL_PROXY }, HUMAN);
          if (r() < 0.25) m.add('click', open + 30_000 + Math.floor(r() * 600_000), 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        } else if (kind < 0.7) {
          // A corporate mailbox behind Safe Links: delivery-time scan of everything, then maybe the person.
          const scan = 20_000 + Math.floor(r() * 40_000);
          const sip = ip(pick(MS_SCAN_NETS));
          const h = { 'user-agent': pick(SAFE_LINKS_UAS), accept: '*/*' };
          m.add('open', scan, 'GET', sip, h, A('security_scanner'));
          if (r() < 0.5) m.add('click', scan + 200, 'HEAD', sip, h, A('security_scanner'));
          for (let l = 0; l < 4; l++) m.add('click', scan + 300 + l * 250, 'GET', sip, h, A('security_scanner'), l, l === 3 ? 'honeypot' : l === 2 ? 'unsubscribe' : 'content');
          if (r() < 0.3) m.add('click', later(), 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        } else if (kind < 0.78) {
          // Outlook desktop: images allowed for some; Office discovery before a click.
          const at = later();
          const addr = home();
          if (r() < 0.6) m.add('open', at, 'GET', addr, { 'user-agent': OUTLOOK }, HUMAN);
          if (r() < 0.4) {
            m.add('click', at + 60_000, 'OPTIONS', addr, { 'user-agent': 'Microsoft Office Protocol Discovery' }, A('client_helper'));
            m.add('click', at + 60_300, 'HEAD', addr, { 'user-agent': 'Microsoft Office Existence Discovery' }, A('client_helper'));
            m.add('click', at + 61_000, 'GET', addr, browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
          }
        } else if (kind < 0.84) {
          // Proofpoint or Mimecast scan at click time, seconds before the person.
          const at = later();
          const vendor = r() < 0.5 ? PROOFPOINT : MIMECAST;
          m.add('click', at - 1_000 - Math.floor(r() * 4_000), 'GET', ip(vendor), { 'user-agent': pick(browsers).userAgent, accept: '*/*' }, A('security_scanner'));
          m.add('click', at, 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        } else if (kind < 0.87) {
          // Barracuda scans every link at delivery.
          for (let l = 0; l < 4; l++) m.add('click', 30_000 + l * 400, 'GET', ip(BARRACUDA), { 'user-agent': 'Barracuda Sentinel (EE)' }, A('security_scanner'), l, l === 3 ? 'honeypot' : 'content');
        } else if (kind < 0.9) {
          // People who look like machines by network: Azure desktops, browser isolation, Cloudflare WARP.
          const net = pick([AZURE_DESKTOPS, PROOFPOINT, CLOUDFLARE_WARP]);
          const at = later();
          m.add('open', at, 'GET', ip(net), { 'user-agent': APPLE_MAIL_MAC }, HUMAN);
          m.add('click', at + 45_000, 'GET', ip(net), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        } else if (kind < 0.92) {
          // Forwarded to chat: the preview, and sometimes the person.
          const at = later();
          m.add('click', at, 'GET', ip(CLOUD), { 'user-agent': pick(PREVIEWS) }, A('link_preview'));
        } else if (kind < 0.94) {
          // Quick readers: a click within a minute of delivery.
          m.add('click', 25_000 + Math.floor(r() * 35_000), 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        } else if (kind < 0.955) {
          // Scripts following links.
          m.add('click', later(), 'GET', ip(CLOUD), { 'user-agent': pick(SCRIPTS), accept: '*/*' }, A('bot'));
        } else if (kind < 0.965) {
          m.add('click', later(), 'GET', ip(CLOUD), { 'user-agent': 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html' }, A('yahoo_proxy'));
        }
        // The rest never open.
      }
    });
  }
  // 4. A list read in Outlook and mail apps, with Gmail prefetching, a mail-protection service that
  //    scans with no user-agent, and a scanner the tenant already caught in an earlier campaign.
  campaign('reminders-c', (msg) => {
    const scannerIp = `${CLOUD}17.${40 + Math.floor(r() * 10)}`;
    const scanner = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36', accept: '*/*' };
    // Three days earlier, in another campaign, it followed every link and the trap of 30 messages.
    for (let i = 0; i < 30; i++) {
      const m = msg(i, { campaign: 'reminders-c-earlier', earlierMs: 3 * 86_400_000 });
      for (let l = 0; l < 4; l++) m.add('click', 40_000 + l * 300, 'GET', scannerIp, scanner, A('security_scanner'), l, l === 3 ? 'honeypot' : 'content');
    }
    for (let i = 0; i < 500; i++) {
      const m = msg(i);
      const b = pick(browsers);
      const kind = r();
      if (kind < 0.2) {
        // Outlook for Windows: the image fetch is the open; before a click, Office checks the link.
        const at = later();
        const addr = home();
        m.add('open', at, 'GET', addr, { 'user-agent': OUTLOOK_IE, accept: 'image/*' }, HUMAN);
        if (r() < 0.4) {
          m.add('click', at + 60_000, 'OPTIONS', addr, { 'user-agent': 'Microsoft Office Protocol Discovery' }, A('client_helper'));
          m.add('click', at + 60_200, 'GET', addr, { 'user-agent': OFFICE_LINK_CHECK }, A('client_helper'));
          m.add('click', at + 61_000, 'GET', addr, browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
        }
      } else if (kind < 0.35) {
        // Mail apps with their own HTTP stacks, some within a minute of delivery.
        m.add('open', r() < 0.2 ? 20_000 + Math.floor(r() * 40_000) : later(), 'GET', home(), { 'user-agent': pick(MAIL_APPS) }, HUMAN);
      } else if (kind < 0.5) {
        // Gmail: its proxy fetches seconds after sending, then again when the person opens.
        m.add('open', 1_500 + Math.floor(r() * 8_000), 'GET', ip(GOOGLE_PROXY), { 'user-agent': GMAIL_PROXY }, A('gmail_prefetch'));
        if (r() < 0.6) m.add('open', later(), 'GET', ip(GOOGLE_PROXY), { 'user-agent': GMAIL_PROXY }, HUMAN);
      } else if (kind < 0.6) {
        // A protection service: HEAD on every link with no user-agent from EOP ranges.
        const sip = ip(EOP);
        for (let l = 0; l < 3; l++) m.add('click', 25_000 + l * 150, 'HEAD', sip, {}, A('security_scanner'), l);
        if (r() < 0.3) m.add('click', later(), 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
      } else if (kind < 0.7) {
        // The scanner caught earlier fetches one link, once: only the tenant's memory tells.
        m.add('click', 50_000 + Math.floor(r() * 40_000), 'GET', scannerIp, scanner, A('security_scanner'));
        if (r() < 0.3) m.add('click', later(), 'GET', home(), browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
      } else if (kind < 0.72) {
        // Somebody else at the scanner's address (a shared office), with a browser of their own.
        m.add('click', later(), 'GET', scannerIp, browserHeaders(b.userAgent, b.language, 'navigate'), HUMAN);
      }
    }
  });
  return campaigns;
}
