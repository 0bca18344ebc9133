import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { EdgeEventSchema, EventKind, PathKind, type EdgeEvent, type TokenPayload } from '@winnow/proto';

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
 * Request headers the classifier reads. Nothing else is kept (least data): no cookies, no
 * authorization, no forwarding chains.
 */
export const KEPT_HEADERS = [
  'user-agent',
  'accept',
  'accept-language',
  'accept-encoding',
  'referer',
  'from',
  'via',
  'dnt',
  'purpose',
  'sec-purpose',
  'x-purpose',
  'x-moz',
  'sec-fetch-site',
  'sec-fetch-mode',
  'sec-fetch-user',
  'sec-fetch-dest',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
  'upgrade-insecure-requests',
  'cache-control',
] as const;

/** Longest header value kept; longer values are cut (user-agents are far shorter). */
export const MAX_KEPT_HEADER_CHARS = 512;

export function keptHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = headers[name];
    if (v === undefined) continue;
    const s = Array.isArray(v) ? v.join(', ') : v;
    out[name] = s.length > MAX_KEPT_HEADER_CHARS ? s.slice(0, MAX_KEPT_HEADER_CHARS) : s;
  }
  return out;
}

/** The client address: the socket peer, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientIp(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trustProxy: boolean): string {
  let ip = socketAddress ?? '';
  if (trustProxy && forwardedFor) {
    const first = (Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor)?.split(',')[0]?.trim();
    if (first) ip = first;
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
): EdgeEvent {
  return create(EdgeEventSchema, {
    id: randomUUID(),
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
  });
}

/** A redirect target is acceptable only as an absolute http(s) URL. */
export function isSafeTarget(url: string): boolean {
  if (url.length === 0 || url.length > 4096) return false;
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname.length > 0;
  } catch {
    return false;
  }
}
