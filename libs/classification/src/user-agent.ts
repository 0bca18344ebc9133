import { isbot } from 'isbot';

/**
 * What a user-agent says about its sender. Signatures and their sources are in
 * docs/classification.md; none of them is decisive alone except where noted there.
 */
export type UaKind =
  | 'apple_mpp' // exactly "Mozilla/5.0": Apple Mail Privacy Protection's fetcher
  | 'gmail_proxy' // Google's image proxy, fetching because a person opened the message
  | 'gmail_prefetch'
  | 'yahoo_proxy'
  | 'scanner' // a security product naming itself
  | 'preview' // chat and social link previews
  | 'office_helper' // Office's discovery requests around a person's click
  | 'script' // HTTP libraries, command-line tools, headless browsers
  | 'empty'
  | 'crawler' // matched by the isbot pattern list
  | 'browser'
  | 'mail_client'
  | 'other';

export interface UaInfo {
  kind: UaKind;
  /** Short name for reasons ("Slackbot", "Chrome 96", ...). */
  name: string;
  /** An old browser build or OS that scanners use and people rarely do. */
  stale?: string;
}

const GMAIL_PROXY = /GoogleImageProxy|\(via ggpht\.com/;
const GMAIL_PREFETCH = /Chrome\/42\.0\.2311\.135 Safari\/537\.36 Edge\/12\.246 Mozilla\/5\.0/;
const YAHOO = /YahooMailProxy/;
const SCANNERS: Array<[RegExp, string]> = [
  [/Barracuda Sentinel/i, 'Barracuda Sentinel'],
  [/Google-Safety/, 'Google-Safety'],
  [/Proofpoint|ppurldefense/i, 'Proofpoint'],
  [/Mimecast/i, 'Mimecast'],
  [/Cisco.*(?:Secure Email|IronPort)|IronPort/i, 'Cisco Secure Email'],
  [/Forcepoint|Websense/i, 'Forcepoint'],
  [/Trend ?Micro/i, 'Trend Micro'],
];
const PREVIEWS: Array<[RegExp, string]> = [
  [/Slackbot|Slack-ImgProxy/, 'Slack'],
  [/SkypeUriPreview/, 'Teams/Skype preview'],
  [/MicrosoftPreview/, 'Microsoft preview'],
  [/facebookexternalhit|Facebot/, 'Facebook/iMessage preview'],
  [/Twitterbot/, 'X preview'],
  [/TelegramBot/, 'Telegram preview'],
  [/WhatsApp/, 'WhatsApp preview'],
  [/Discordbot/, 'Discord preview'],
  [/LinkedInBot/, 'LinkedIn preview'],
  [/Viber|Line\/|KakaoTalk-scrap|SignalPreview|redditbot|Pinterestbot|Embedly|Iframely/i, 'link preview'],
];
const OFFICE_HELPER = /Microsoft Office (?:Protocol|Existence) Discovery|ms-office; MSOffice|\bms-office\b(?!.*Outlook)/;
const SCRIPTS: Array<[RegExp, string]> = [
  [/^curl\//i, 'curl'],
  [/^Wget\//i, 'Wget'],
  [/^Python-urllib\//, 'Python urllib'],
  [/python-requests|aiohttp|httpx|Scrapy/i, 'Python HTTP library'],
  [/^Go-http-client\//, 'Go net/http'],
  [/^axios\//, 'axios'],
  [/^node(?:-fetch)?(?:\/|$)|^undici/, 'Node.js'],
  [/^okhttp\//i, 'OkHttp'],
  [/^Java\/|Apache-HttpClient|Jakarta Commons/, 'Java HTTP client'],
  [/^libwww-perl|^PHP|GuzzleHttp|^Ruby|Faraday/i, 'HTTP library'],
  [/HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|Electron\/.*HeadlessChrome/, 'headless browser'],
  [/^PostmanRuntime|^insomnia/i, 'API client'],
];
const MAIL_CLIENTS = /Microsoft Outlook|Thunderbird\/|\bOutlook-iOS\b|Outlook-Android|Airmail|Spark\/|Mailbird|eM Client|Postbox|^Mozilla\/5\.0 \([^)]*\) AppleWebKit\/[\d.]+ \(KHTML, like Gecko\)(?: Mobile\/\w+)?$/;

/** Chrome majors older than this are stale in the rule set of 2026 (current releases are 140+). */
export const STALE_CHROME_MAJOR = 110;
/** Builds Microsoft Safe Links detonation has been seen using (signals.md). */
const SAFE_LINKS_BUILDS = /Chrome\/(?:57\.0\.2987\.133|79\.0\.\d+\.\d+|80\.0\.\d+\.\d+|96\.0\.\d+\.\d+|101\.0\.4951\.54)\b/;

function staleness(ua: string): string | undefined {
  if (SAFE_LINKS_BUILDS.test(ua)) return `browser build seen in Safe Links detonation (${/Chrome\/[\d.]+/.exec(ua)![0]})`;
  const chrome = /(?:Chrome|CriOS)\/(\d+)\./.exec(ua);
  if (chrome && Number(chrome[1]) < STALE_CHROME_MAJOR && !/Edge\/|OPR\//.test(ua)) return `outdated Chrome ${chrome[1]}`;
  if (/Windows NT 5\.[12]|Windows NT 6\.0|Windows XP/.test(ua)) return 'Windows XP or Vista';
  if (/MSIE [\d.]+;.*Mac/.test(ua)) return 'Internet Explorer on a Mac';
  return undefined;
}

const cache = new Map<string, UaInfo>();

export function classifyUserAgent(ua: string): UaInfo {
  const hit = cache.get(ua);
  if (hit) return hit;
  const info = compute(ua);
  if (cache.size > 50_000) cache.clear();
  cache.set(ua, info);
  return info;
}

function compute(ua: string): UaInfo {
  const trimmed = ua.trim();
  if (trimmed === '') return { kind: 'empty', name: 'no user-agent' };
  if (trimmed === 'Mozilla/5.0') return { kind: 'apple_mpp', name: 'exactly "Mozilla/5.0"' };
  if (GMAIL_PROXY.test(ua)) return { kind: 'gmail_proxy', name: 'Google image proxy' };
  if (GMAIL_PREFETCH.test(ua)) return { kind: 'gmail_prefetch', name: 'Gmail prefetch' };
  if (YAHOO.test(ua)) return { kind: 'yahoo_proxy', name: 'Yahoo mail proxy' };
  for (const [re, name] of SCANNERS) if (re.test(ua)) return { kind: 'scanner', name };
  for (const [re, name] of PREVIEWS) if (re.test(ua)) return { kind: 'preview', name };
  if (OFFICE_HELPER.test(ua)) return { kind: 'office_helper', name: 'Office discovery' };
  for (const [re, name] of SCRIPTS) if (re.test(ua)) return { kind: 'script', name };
  const stale = staleness(ua);
  if (MAIL_CLIENTS.test(ua)) return { kind: 'mail_client', name: 'mail client', ...(stale ? { stale } : {}) };
  if (/^Mozilla\/[45]\.0 \(/.test(ua) && /AppleWebKit|Gecko\/|Trident|MSIE/.test(ua) && !isbot(ua)) {
    const name = /Edg\/(\d+)/.exec(ua)?.[0] ?? /Firefox\/(\d+)/.exec(ua)?.[0] ?? /Chrome\/(\d+)/.exec(ua)?.[0] ?? /Version\/([\d.]+).*Safari/.exec(ua)?.[0] ?? 'browser';
    return { kind: 'browser', name: name.replace('/', ' '), ...(stale ? { stale } : {}) };
  }
  if (isbot(ua)) return { kind: 'crawler', name: 'crawler or bot' };
  if (/bot\b|crawl|spider|scan|monitor|check|fetch|http/i.test(ua)) return { kind: 'crawler', name: 'automated client' };
  return { kind: 'other', name: 'unrecognised user-agent', ...(stale ? { stale } : {}) };
}
