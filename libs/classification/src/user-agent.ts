import { isbot } from 'isbot';
import { directoryLookup } from './bot-directory';

/**
 * What a user-agent says about its sender. Signatures and their sources are in
 * docs/classification.md; none of them is decisive alone except where noted there.
 */
export type UaKind =
  | 'apple_mpp' // exactly "Mozilla/5.0": Apple Mail Privacy Protection's fetcher
  | 'gmail_proxy' // Google's image proxy, fetching because a person opened the message
  | 'gmail_prefetch'
  | 'google_fetcher' // Gmail's frozen browser string with a service's token after it ("... Edge/12.246 Gmail-content-sampling")
  | 'yahoo_proxy'
  | 'scanner' // a security product naming itself
  | 'preview' // chat and social link previews
  | 'office_discovery' // Office's discovery requests (OPTIONS/HEAD) around a person's click
  | 'office_app' // an Office program's own request (Outlook rendering images, Word or Outlook checking a link)
  | 'outlook_webview' // the new Outlook for Windows' own web view ("... Edg/117... OneOutlook/1.2023..."): showing the message, or fetching a link itself
  | 'script' // HTTP libraries, command-line tools, headless browsers
  | 'empty'
  | 'crawler' // matched by the isbot pattern list
  | 'browser'
  | 'mail_client'
  | 'native_app' // an app's own HTTP stack (Apple CFNetwork, Android Dalvik): a mail app fetching images
  | 'other';

export interface UaInfo {
  kind: UaKind;
  /** Short name for reasons ("Slackbot", "Chrome 96", ...). */
  name: string;
  /** An old browser build or OS that scanners use and people rarely do. */
  stale?: string;
  /** What `stale` weighs, in log-odds of automated (each stale fact adds its weight). */
  staleWeight?: number;
  /**
   * A previewer known only by what it calls itself (no list names it): a previewer when it behaves
   * like one (decide.ts). `browser`: the word is in a browser's own string, which is not settled by it.
   */
  selfDescribed?: 'browser' | 'own';
}

const GMAIL_PROXY = /GoogleImageProxy|\(via ggpht\.com/i;
const GMAIL_PREFETCH = /Chrome\/42\.0\.2311\.135 Safari\/537\.36 Edge\/12\.246 Mozilla\/5\.0/;
/**
 * Gmail's fetchers share one frozen browser string (Chrome 42 with EdgeHTML 12.246, a pair no released
 * Edge carried: Edge 12's builds were 12.10xxx). With " Mozilla/5.0" after it, it is the prefetch of a
 * delivered message; with another token after it ("Gmail-content-sampling", mssola/user_agent#71), it
 * is another of Google's fetchers reading the message's content or following its links. The pair with
 * nothing after it is left to the other rules (an old Edge string, weighed as stale).
 */
const GOOGLE_FETCHER = /Chrome\/42\.0\.2311\.135 Safari\/537\.36 Edge\/12\.246 +([^\s].*)$/;
const YAHOO = /YahooMailProxy/i;
const SCANNERS: Array<[RegExp, string]> = [
  [/Barracuda Sentinel/i, 'Barracuda Sentinel'],
  [/Google-Safety/, 'Google-Safety'],
  [/Proofpoint|ppurldefense/i, 'Proofpoint'],
  [/Mimecast/i, 'Mimecast'],
  [/Cisco.*(?:Secure Email|IronPort)|IronPort/i, 'Cisco Secure Email'],
  [/Forcepoint|Websense/i, 'Forcepoint'],
  [/Trend ?Micro/i, 'Trend Micro'],
];
/**
 * Security products that describe themselves without a name we list: link scanners, antivirus
 * URL checks, reputation services. Their self-description is the behaviour.
 */
const SECURITY_WORDS = /anti-?virus|virustotal|kaspersky|bitdefender|sophos|fortiguard|zscaler|symantec|mcafee|norton|webroot|\beset\b|avast|malware|phish|safe-?browsing|url ?scan|urlscan|link ?(?:scan|check|resolver|protect)|(?:^|[^a-z])scanner|threat|reputation|sandbox/i;
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
/**
 * What previewers call themselves when they are in no list: the card or "unfurl" a chat, note or
 * social app builds from a shared link, and the fediverse servers that fetch a card for a post.
 */
/** A browser's own user-agent string: Mozilla/5.0, a platform, and a rendering engine. */
const BROWSER_STRING = /^Mozilla\/5\.0 \([^)]*\) (?:AppleWebKit\/[\d.]+|Gecko\/\d+)/;
const PREVIEW_WORDS = /preview|unfurl|onebox|rich ?link|link ?expand|externalhit|externalfetcher|url ?lookup|embed|link ?bot|card ?bot|mastodon|pleroma|misskey|akkoma|bluesky|cardyb/i;
const OFFICE_DISCOVERY = /Microsoft Office (?:Protocol|Existence) Discovery/;
/**
 * The new Outlook for Windows is a web view whose requests append `OneOutlook/<version>` to Edge's
 * string. It shows a message's images with it (a person reading); a *link* fetched with it is the
 * program's own request, not the person's browser, which opens links with its own string.
 */
const OUTLOOK_WEBVIEW = /\bOneOutlook\/\d/;
/**
 * An Office program's own HTTP stack: Outlook for Windows fetching the message's images sends an
 * IE-style string with `Microsoft Outlook 16.0.x; ms-office; MSOffice 16` or `Microsoft Office/16.0
 * (...; Microsoft Outlook 16.0.x; Pro)`; Word and Outlook checking a link before the browser opens it
 * send `ms-office` too. Which of the two it is depends on what was fetched (decide.ts).
 */
const OFFICE_APP = /\bms-office\b|\bMSOffice \d|^Microsoft Office\b|Microsoft Outlook|Microsoft Office (?:Word|Excel|PowerPoint|OneNote)/;
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
/**
 * A mail application naming itself in a user-agent that is no browser string ("YahooMobileMail/1.0
 * (Android Mail; ...)", "mobmail android ... ru.mail.mailapp", "MobileMail/1.0 CFNetwork/..."): a
 * product word with "mail" in it, and none of the words harvesters, validators and proxies use.
 */
const MAIL_APP = /(?:^|[\s(;,./-])[a-z]*mail[a-z]*(?:[\s/;),.-]|$)/i;
const NOT_A_READER = /bot\b|crawl|spider|scan|check|harvest|extract|collect|siphon|proxy|validat|verif|monitor|wolf|sender|marketing|track/i;
/** A contact URL or e-mail address in a user-agent: a service or crawler naming where to reach it. */
const SERVICE_CONTACT = /\+https?:\/\/|\(\+?https?:\/\/|;\s*\+?https?:\/\/|\bhttps?:\/\/[^\s;)]*\b(?:bot|crawl|spider)|[\w.+-]+@[\w-]+(?:\.[\w-]+)+/i;
/** Apple's and Android's own HTTP stacks: a native app (on an image, a mail app showing the message). */
const NATIVE_APP = /\bCFNetwork\/[\d.]+ Darwin\/|^Dalvik\/[\d.]+ \(Linux; U; Android/;
/**
 * Desktop and mobile mail programs by name (device-detector's and uap-core's mail-client families),
 * and WebKit with no browser token: Apple Mail and iOS Mail rendering a message.
 */
const MAIL_CLIENTS = /Microsoft Outlook|Outlook-(?:iOS|Android|Mac|Express)|Thunderbird\/|Icedove\/|SeaMonkey\/|Lotus-Notes|\bNotes\/\d|Eudora|The Bat!|Pegasus|Sylpheed|Evolution\/|Sparrow|Airmail|Spark\/|Postbox|eM ?Client|Newton\/|Canary Mail|Edison|BlueMail|Nine\/|Aqua ?Mail|K-9|Tempo\/|Zimbra|Barca\/|Mutt\/|Alpine\/|^Mozilla\/5\.0 \([^)]*\) AppleWebKit\/[\d.]+ \(KHTML, like Gecko\)(?: Mobile\/\w+)?$/;

/** Chrome majors older than this are stale in the rule set of 2026 (current releases are 140+). */
export const STALE_CHROME_MAJOR = 110;
/** Builds Microsoft Safe Links detonation has been seen using (signals.md). */
const SAFE_LINKS_BUILDS = /Chrome\/(?:57\.0\.2987\.133|79\.0\.\d+\.\d+|80\.0\.\d+\.\d+|96\.0\.\d+\.\d+|101\.0\.4951\.54)\b/;

/** Weight (log-odds) of one stale fact, and of a build Safe Links detonation is known to use. */
const STALE_FACT_WEIGHT = 1.1;
const SAFE_LINKS_WEIGHT = 1.5;

/**
 * What is stale about the client: at most one browser fact (the build) and one system fact (the
 * OS). The two are independent evidence, so each adds its weight: a retired browser on a retired
 * system is rarer among people than either alone.
 */
function staleness(ua: string): { stale: string; staleWeight: number } | undefined {
  let browser: string | undefined;
  let weight = 0;
  if (SAFE_LINKS_BUILDS.test(ua)) {
    browser = `browser build seen in Safe Links detonation (${/Chrome\/[\d.]+/.exec(ua)![0]})`;
    weight = SAFE_LINKS_WEIGHT;
  } else {
    const chrome = /(?:Chrome|CriOS)\/(\d+)\./.exec(ua);
    if (chrome && Number(chrome[1]) < STALE_CHROME_MAJOR && !/Edge\/|OPR\//.test(ua)) browser = `outdated Chrome ${chrome[1]}`;
    // EdgeHTML Edge (`Edge/12` to `Edge/18`; Chromium Edge says `Edg/`): out of support since 2021-03-09
    // and removed by Windows Update on 2021-04-13. Windows 10 LTSC still ships it, so it is weighed, as
    // other stale builds are, never decisive.
    else if (/\bEdge\/1[2-8]\./.test(ua)) browser = 'EdgeHTML Edge (out of support since 2021)';
    else if (/MSIE [\d.]+;.*Mac/.test(ua)) browser = 'Internet Explorer on a Mac';
    else if (/MSIE (?:[5-9]|10)\./.test(ua)) browser = 'Internet Explorer 10 or older (retired)';
    if (browser) weight = STALE_FACT_WEIGHT;
  }
  const system = /Windows NT 5\.[12]|Windows NT 6\.0|Windows XP/.test(ua) ? 'Windows XP or Vista' : undefined;
  if (system) weight += STALE_FACT_WEIGHT;
  if (!browser && !system) return undefined;
  return { stale: [browser, system].filter(Boolean).join(' on '), staleWeight: weight };
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
  const fetcher = GOOGLE_FETCHER.exec(ua);
  if (fetcher) return { kind: 'google_fetcher', name: `Gmail's fetcher string with "${fetcher[1]!.slice(0, 40)}" after it` };
  if (YAHOO.test(ua)) return { kind: 'yahoo_proxy', name: 'Yahoo mail proxy' };
  for (const [re, name] of SCANNERS) if (re.test(ua)) return { kind: 'scanner', name };
  for (const [re, name] of PREVIEWS) if (re.test(ua)) return { kind: 'preview', name };
  // Not in a browser's own string: Avast, Norton and AVG ship browsers that people use ("... Chrome/120
  // Safari/537.36 Avast/120"); scanners posing as browsers are caught by what they append or do.
  if (SECURITY_WORDS.test(ua) && !BROWSER_STRING.test(ua)) return { kind: 'scanner', name: 'security product' };
  if (PREVIEW_WORDS.test(ua)) return BROWSER_STRING.test(ua) ? { kind: 'preview', name: 'link preview', selfDescribed: 'browser', ...staleness(ua) } : { kind: 'preview', name: 'link preview', selfDescribed: 'own' };
  if (OFFICE_DISCOVERY.test(ua)) return { kind: 'office_discovery', name: 'Office discovery' };
  if (OUTLOOK_WEBVIEW.test(ua)) return { kind: 'outlook_webview', name: 'new Outlook for Windows' };
  if (OFFICE_APP.test(ua)) return { kind: 'office_app', name: /Outlook/.test(ua) ? 'Outlook for Windows' : 'Microsoft Office' };
  for (const [re, name] of SCRIPTS) if (re.test(ua)) return { kind: 'script', name };
  const stale = staleness(ua);
  // A contact address (a URL to read about the client, or an e-mail address) is how services and
  // crawlers introduce themselves; no mail program puts one in its user-agent, so a mail word next to
  // one ("(compatible; MailChimp; +https://mailchimp.com/)", "larbin2.6.3@unspecified.mail") is a service's.
  const contact = SERVICE_CONTACT.test(ua);
  if (!contact && (MAIL_CLIENTS.test(ua) || (MAIL_APP.test(ua) && !NOT_A_READER.test(ua)))) return { kind: 'mail_client', name: 'mail client', ...stale };
  if (NATIVE_APP.test(ua)) return { kind: 'native_app', name: 'native app' };
  // A browser string carrying a contact address or an app id was appended to by a service; browsers
  // never put one there (published scanner strings: "... Safari/537.36 AppEngine-Google; (+http://...; appid: ...)").
  if (/^Mozilla\/[45]\.0 \(/.test(ua) && /https?:\/\/|\+http|\bappid\b|@[\w-]+\.[a-z]{2,}/i.test(ua)) {
    if (SECURITY_WORDS.test(ua)) return { kind: 'scanner', name: 'security service behind a browser string' };
    return automatedByString(ua, 'browser string with a service\'s contact address');
  }
  if (/^Mozilla\/[45]\.0 \(/.test(ua) && /AppleWebKit|Gecko\/|Trident|MSIE/.test(ua) && !isbot(ua)) {
    const name = /Edg\/(\d+)/.exec(ua)?.[0] ?? /Firefox\/(\d+)/.exec(ua)?.[0] ?? /Chrome\/(\d+)/.exec(ua)?.[0] ?? /Version\/([\d.]+).*Safari/.exec(ua)?.[0] ?? 'browser';
    return { kind: 'browser', name: name.replace('/', ' '), ...stale };
  }
  if (isbot(ua)) return automatedByString(ua, 'crawler or bot');
  // "Mozilla/5.0 (compatible; Name/1.0; +http://...)" with no browser engine is how crawlers introduce themselves.
  if (/^Mozilla\/\d\.\d \(compatible;/.test(ua)) return automatedByString(ua, 'self-described crawler');
  if (/bot\b|crawl|spider|scan|monitor|check|fetch|http/i.test(ua)) return automatedByString(ua, 'automated client');
  const listed = directoryLookup(ua);
  if (listed) return { kind: listed.kind, name: listed.name };
  return { kind: 'other', name: 'unrecognised user-agent', ...stale };
}

/**
 * A user-agent that says by itself that no person is behind it: a previewer or a scanner when the bot
 * directory files it as one (bot-directory.ts), a crawler otherwise.
 */
function automatedByString(ua: string, name: string): UaInfo {
  const listed = directoryLookup(ua);
  return listed ? { kind: listed.kind, name: listed.name } : { kind: 'crawler', name };
}
