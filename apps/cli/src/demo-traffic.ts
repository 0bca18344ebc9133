
/** One HTTP request of the demo campaign, in the order a day of mail would produce them. */
export interface DemoRequest {
  message: string;
  what: 'open' | { link: number };
  method: 'GET' | 'HEAD';
  ip: string;
  headers: Record<string, string>;
  /** Who really made it, for the printout. */
  actor: string;
}

export const CAMPAIGN = 'flu-shot-reminder';
/**
 * The reminder every recipient gets. Prepared, its tracked links are 0 (book), 1 (unsubscribe)
 * and 2 (the hidden trap link).
 */
export const DEMO_EMAIL = `<!doctype html>
<html><head><meta charset="utf-8"><title>Time for your flu shot</title></head>
<body>
  <p>Flu season is here. Appointments are open at the Demo Clinic this week.</p>
  <p><a href="https://demo-clinic.example/flu-shot/book">Book your flu shot</a></p>
  <p>Questions? <a href="tel:+15550100">Call us</a>.</p>
  <p style="font-size:12px"><a href="https://demo-clinic.example/unsubscribe">Unsubscribe</a></p>
</body></html>
`;
const LINK_COUNT = 3;

// User-agents and networks as documented in docs/classification.md (sources there).
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
const EDGE = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0';
const OUTLOOK = 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)';
const GMAIL_PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
const SAFE_LINKS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.54 Safari/537.36';
const SLACK = 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)';
const browser = (ua: string) => ({
  'user-agent': ua,
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.9',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  ...(ua.includes('Safari/604') ? {} : { 'sec-fetch-user': '?1' }),
});

/**
 * A 40-recipient appointment reminder: Apple Mail users behind Mail Privacy Protection (a few
 * click later in Safari), Gmail readers seen through Google's image proxy, a corporate domain
 * behind Microsoft Safe Links that scans every link, Outlook desktop readers, a link forwarded to
 * Slack, and people who never open.
 */
export function demoTraffic(): { messages: string[]; requests: DemoRequest[] } {
  const messages = Array.from({ length: 40 }, (_, i) => `reminder-${String(i + 1).padStart(3, '0')}`);
  const r: DemoRequest[] = [];
  const m = (i: number) => messages[i]!;
  // 0-11 Apple Mail with MPP: every pixel prefetched from Private Relay; 3 people click in Safari.
  for (let i = 0; i < 12; i++) r.push({ message: m(i), what: 'open', method: 'GET', ip: `104.28.28.${i + 1}`, headers: { 'user-agent': 'Mozilla/5.0' }, actor: 'Apple MPP' });
  // 12-19 corporate recipients behind Safe Links: pixel, HEAD, then every link, trap included.
  for (let i = 12; i < 20; i++) {
    const ip = `40.94.30.${i}`;
    const h = { 'user-agent': SAFE_LINKS, accept: '*/*' };
    r.push({ message: m(i), what: 'open', method: 'GET', ip, headers: h, actor: 'Safe Links' });
    r.push({ message: m(i), what: { link: 0 }, method: 'HEAD', ip, headers: h, actor: 'Safe Links' });
    for (let l = 0; l < LINK_COUNT; l++) r.push({ message: m(i), what: { link: l }, method: 'GET', ip, headers: h, actor: 'Safe Links' });
  }
  // 20-29 Gmail readers: Google's proxy fetches the pixel when each opens; 4 click in Chrome.
  for (let i = 20; i < 30; i++) r.push({ message: m(i), what: 'open', method: 'GET', ip: '66.249.84.10', headers: { 'user-agent': GMAIL_PROXY }, actor: 'person (Gmail proxy)' });
  // 30-34 Outlook desktop readers open; one clicks.
  for (let i = 30; i < 35; i++) r.push({ message: m(i), what: 'open', method: 'GET', ip: `198.51.100.${i}`, headers: { 'user-agent': OUTLOOK }, actor: 'person (Outlook)' });
  // Later in the day: people click.
  for (const i of [2, 5, 9]) r.push({ message: m(i), what: { link: 0 }, method: 'GET', ip: `104.28.28.${i + 1}`, headers: browser(SAFARI), actor: 'person (Safari, Private Relay)' });
  for (const i of [20, 23, 24, 28]) r.push({ message: m(i), what: { link: 0 }, method: 'GET', ip: `203.0.113.${i}`, headers: browser(CHROME), actor: 'person (Chrome)' });
  for (const i of [13, 17]) r.push({ message: m(i), what: { link: 0 }, method: 'GET', ip: `192.0.2.${i}`, headers: browser(EDGE), actor: 'person (Edge, behind Safe Links)' });
  r.push({ message: m(31), what: { link: 0 }, method: 'GET', ip: '198.51.100.31', headers: browser(EDGE), actor: 'person (Outlook)' });
  // Message 33's reader forwards the link to a Slack channel; Slack previews it.
  r.push({ message: m(33), what: { link: 0 }, method: 'GET', ip: '198.51.100.200', headers: { 'user-agent': SLACK }, actor: 'Slack preview' });
  // 35-39 never open.
  return { messages, requests: r };
}
