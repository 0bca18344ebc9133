import { EventKind, LinkRole, Source, type EdgeEvent } from '@winnow/proto';
import { automated, human, type Decision } from './verdict';

/**
 * Version of the rule set, stamped on every verdict. Bump it whenever a rule or its data changes,
 * so stored verdicts say which rules made them.
 */
export const RULESET_VERSION = '2026.11.0-baseline';

// User-agent signatures, each documented with its source in docs/classification.md.
const GMAIL_PROXY = /GoogleImageProxy|via ggpht\.com/;
const GMAIL_PREFETCH = /Chrome\/42\.0\.2311\.135 Safari\/537\.36 Edge\/12\.246 Mozilla\/5\.0/;
const YAHOO_PROXY = /YahooMailProxy/;
const SCANNERS = /Barracuda Sentinel|Google-Safety/;
const PREVIEWERS = /Slackbot|Slack-ImgProxy|SkypeUriPreview|MicrosoftPreview|facebookexternalhit|Twitterbot|TelegramBot|WhatsApp|Discordbot|LinkedInBot/;
const OFFICE_HELPER = /Microsoft Office (Protocol|Existence) Discovery/;
const SCRIPTS = /^(curl|Wget|Python-urllib|python-requests|Go-http-client|axios|node|okhttp|Java)\b|HeadlessChrome|PhantomJS|bot\b|crawler|spider/i;

/**
 * The baseline rules: one event at a time, first match wins. The full classifier (issue #5)
 * replaces this with weighed signals and message history.
 */
export function classifyBaseline(event: EdgeEvent): Decision {
  const ua = event.headers['user-agent'] ?? '';
  const method = event.method.toUpperCase();
  const purpose = (event.headers['sec-purpose'] ?? event.headers['purpose'] ?? '').toLowerCase();

  if (method === 'OPTIONS' || method === 'HEAD') {
    if (OFFICE_HELPER.test(ua)) return automated(Source.CLIENT_HELPER, 0.95, `${method} from Office discovery`);
    return automated(Source.SECURITY_SCANNER, 0.9, `${method} request: never a person's click`);
  }
  if (purpose.includes('prefetch')) return automated(Source.BOT, 0.9, 'prefetch request header');
  if (event.kind === EventKind.CLICK && event.linkRole === LinkRole.HONEYPOT) {
    return automated(Source.SECURITY_SCANNER, 0.97, 'hidden trap link followed');
  }
  if (GMAIL_PROXY.test(ua)) return human(0.9, 'Gmail image proxy fetches when a person opens');
  if (GMAIL_PREFETCH.test(ua)) return automated(Source.GMAIL_PREFETCH, 0.95, 'Gmail prefetch user-agent');
  if (YAHOO_PROXY.test(ua)) return automated(Source.YAHOO_PROXY, 0.95, 'Yahoo mail proxy user-agent');
  if (ua === 'Mozilla/5.0' && event.kind === EventKind.OPEN) {
    return automated(Source.APPLE_MPP, 0.9, 'user-agent is exactly "Mozilla/5.0" (Apple Mail Privacy Protection)');
  }
  if (SCANNERS.test(ua)) return automated(Source.SECURITY_SCANNER, 0.95, 'security scanner user-agent');
  if (PREVIEWERS.test(ua)) return automated(Source.LINK_PREVIEW, 0.95, 'link preview user-agent');
  if (ua === '') return automated(Source.BOT, 0.85, 'no user-agent');
  if (SCRIPTS.test(ua)) return automated(Source.BOT, 0.9, 'script or crawler user-agent');
  return human(0.6, 'no automated signature found');
}
