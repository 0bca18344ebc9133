import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { v7 as uuidv7 } from 'uuid';
import { EventKind, PathKind, type TokenPayload } from '@winnow/proto';
import type { EdgeEventFields } from '@winnow/proto';

/** Which tracking path a request names. */
export interface TrackingRoute {
  kind: PathKind.PIXEL | PathKind.CLICK;
  token: string;
}

/**
 * `/o/<token>` or `/o/<token>.gif` for the pixel, `/c/<token>` for a link. Anything else,
 * including a query string on the pixel, is left to the caller (404). The query string is
 * ignored on links: the target comes only from the sealed token.
 */
export function parseRoute(url: string): TrackingRoute | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path.length < 4 || path[0] !== '/' || path[2] !== '/') return undefined;
  const rest = path.slice(3);
  if (rest.length === 0 || rest.includes('/')) return undefined;
  if (path[1] === 'o') return { kind: PathKind.PIXEL, token: rest.endsWith('.gif') ? rest.slice(0, -4) : rest };
  if (path[1] === 'c') return { kind: PathKind.CLICK, token: rest };
  return undefined;
}

/**
 * Request headers the classifier reads. Nothing else reaches the spool (least data): no cookies,
 * no authorization, no forwarding chains, no `From` (an e-mail address by definition), no client
 * hints or Accept headers no rule reads, and the `Referer` only as its origin.
 */
export const KEPT_HEADERS = [
  // What the rules read (libs/classification RULE_HEADERS; docs/privacy.md).
  'user-agent',
  'accept-language',
  'sec-fetch-mode',
  'sec-fetch-user',
  // Declared prefetches, never counted.
  'sec-purpose',
  'purpose',
  'x-purpose',
  'x-moz',
  // The origin only (see scanHeaders).
  'referer',
] as const;
const KEPT = new Set<string>(KEPT_HEADERS);

/** Longest header value kept; longer values are cut (user-agents are far shorter). */
export const MAX_KEPT_HEADER_CHARS = 512;

export interface ScannedHeaders {
  host: string | undefined;
  /** More than one Host line: RFC 9112 section 3.2 has the server answer 400. */
  repeatedHost: boolean;
  forwardedFor: string | undefined;
  kept: Record<string, string>;
}

/**
 * One pass over the raw header list (name, value, name, value, ...): the Host, every
 * X-Forwarded-For line joined in order, and the kept headers (repeats joined with ", ", values cut at 512 characters).
 * Reading rawHeaders spares Node building its lower-cased headers object on every request.
 */
export function scanHeaders(raw: readonly string[]): ScannedHeaders {
  let host: string | undefined;
  let repeatedHost = false;
  let forwardedFor: string | undefined;
  const kept: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') {
      if (host === undefined) host = value;
      else repeatedHost = true;
    }
    // Every line counts, joined as one list (as Node joins them in req.headers): a proxy that adds
    // its own line after the client's (HAProxy's `option forwardfor`) puts the address it saw last,
    // and reading only the first line would take the client's own, forgeable, claim.
    else if (name === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else if (KEPT.has(name)) {
      // The page a request came from says what the person read; its origin is all a rule could use.
      if (name === 'referer') {
        kept[name] = originOf(value);
        continue;
      }
      const joined = kept[name] === undefined ? value : `${kept[name]}, ${value}`;
      kept[name] = joined.length > MAX_KEPT_HEADER_CHARS ? joined.slice(0, MAX_KEPT_HEADER_CHARS) : joined;
    }
  }
  return { host, repeatedHost, forwardedFor, kept };
}

/**
 * A request target in absolute form (`GET http://links.example/o/TOKEN HTTP/1.1`, which RFC 9112
 * section 3.2.2 has every server accept, and which proxies send): its authority, which stands in
 * for the Host header, and its path with the query. Undefined for the usual origin form (`/o/TOKEN`).
 */
export function absoluteTarget(url: string): { host: string; path: string } | undefined {
  const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!m) return undefined;
  const authority = m[1]!;
  return { host: authority.slice(authority.lastIndexOf('@') + 1), path: m[2] || '/' };
}

/**
 * One X-Forwarded-For entry without a port: some proxies write `203.0.113.7:51234` or
 * `[2001:db8::7]:51234` (Azure Application Gateway does), and an address with a port is in no
 * network, so the rules that read the network would never see it.
 */
function withoutPort(entry: string): string {
  const e = entry.trim();
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(e);
  if (v6) return v6[1]!;
  const v4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d{1,5}$/.exec(e);
  return v4 ? v4[1]! : e;
}

/** An X-Forwarded-For list with every entry's port taken off. */
export const forwardedWithoutPorts = (list: string): string => list.split(',').map(withoutPort).join(', ');

/** A URL cut to its origin (scheme, host, port); '' when it is not an absolute http(s) URL. */
export function originOf(url: string): string {
  try {
    const u = new URL(url.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : '';
  } catch {
    return '';
  }
}

/** Which hops to believe: proxy-addr's compiled trust function, or undefined when none is trusted. */
export type ProxyTrust = ((addr: string, hop: number) => boolean) | undefined;

export function compileTrust(trusted: string[] | number): ProxyTrust {
  if (typeof trusted === 'number') return (_addr, hop) => hop < trusted;
  return trusted.length === 0 ? undefined : proxyaddr.compile(trusted);
}

/**
 * The client address: the socket peer, unless it is a trusted proxy; then X-Forwarded-For is walked
 * from its right end, hop by hop, for as long as each hop is trusted (proxy-addr), and the first
 * untrusted address is the client's. A `Forwarded` header is never read, and a forged leftmost
 * X-Forwarded-For entry is never believed unless every hop after it is trusted.
 */
export function clientIp(socketAddress: string | undefined, forwardedFor: string | undefined, trust: ProxyTrust): string {
  let ip = socketAddress ?? '';
  if (trust && forwardedFor && ip) {
    const req = { headers: { 'x-forwarded-for': forwardedWithoutPorts(forwardedFor) }, connection: { remoteAddress: ip }, socket: { remoteAddress: ip } };
    ip = proxyaddr(req as unknown as IncomingMessage, trust);
  }
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** An edge event from an opened token and what the request looked like. */
export function edgeEvent(
  payload: TokenPayload,
  route: TrackingRoute,
  method: string,
  ip: string,
  headers: Record<string, string>,
  atMs: number,
): EdgeEventFields {
  return {
    // Time-ordered (RFC 9562 version 7): the store's event index takes new events at its end,
    // instead of on a random page each (docs/architecture.md, "Throughput end to end").
    id: uuidv7(),
    tenant: payload.tenant,
    campaign: payload.campaign,
    message: payload.message,
    kind: payload.kind === EventKind.CLICK ? EventKind.CLICK : EventKind.OPEN,
    linkIndex: payload.linkIndex,
    linkRole: payload.linkRole,
    method,
    pathKind: route.kind,
    ip,
    headers,
    atUnixMs: String(atMs),
    deliveredAtUnixMs: String(Number(payload.sentAtUnixS) * 1000),
    links: payload.links,
    recipientDomain: payload.recipientDomain,
  };
}

/**
 * The Location to send for a sealed link target, or undefined when it is not an absolute http(s)
 * URL. The target is sent as the URL parser serializes it: ASCII only (non-ASCII characters
 * percent-encoded, an international host in punycode, tabs and line breaks gone), so any href a
 * sender wrote can go in a header (Node refuses a header holding `€` or a line break, and a raw
 * Latin-1 byte would send the browser elsewhere).
 */
export function redirectTarget(url: string): string | undefined {
  if (url.length === 0 || url.length > 4096) return undefined;
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname.length > 0 ? u.href : undefined;
  } catch {
    return undefined;
  }
}
