import { createHmac } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { EdgeEvent, Evidence } from '@winnow/proto';
import { classifyUserAgent } from './user-agent';
import { networkOf, type NetworkCategory, type NetworkInfo } from './net/networks';
import type { EventFeatures } from './decide';
import { fromEdgeEvent, type TraceEvent } from './trace-event';
import { BoundedMap } from './bounded-map';

/** The request headers the rules read; nothing else of a request is kept past the classifier. */
export const RULE_HEADERS = ['user-agent', 'accept-language', 'sec-fetch-mode', 'sec-fetch-user', 'sec-purpose', 'purpose', 'x-purpose', 'x-moz'] as const;

/** Turns a tenant's client address into a key for equality only. */
export type AddressKeyer = (tenant: string, ip: string) => string;

/** Addresses whose keys an AddressKeyer remembers (all tenants together); past it, it starts afresh. */
export const ADDRESS_KEYS_HELD = 16_384;

/**
 * Keyed, per-tenant hashes of client addresses: HMAC-SHA-256 under a key derived for the tenant
 * from `secret`, cut to 128 bits. The same address gives the same key within a tenant (bursts,
 * fan-out and the tenant's memory compare keys) and unrelated keys across tenants; without the
 * secret a key cannot be turned back into an address by trying all 2^32 IPv4 addresses.
 *
 * Keys of recent addresses are remembered (at most ADDRESS_KEYS_HELD, in memory only, then
 * forgotten all at once): an HMAC costs ~2 µs, and many requests come from an address seen
 * moments before (a reader's reopens, Apple's and Google's proxies, a scanner's bursts).
 */
export function addressKeyer(secret: string | Uint8Array): AddressKeyer {
  const perTenant = new Map<string, Buffer>();
  const held = new BoundedMap<string>(ADDRESS_KEYS_HELD);
  return (tenant, ip) => {
    if (ip === '') return '';
    const k = `${tenant}\u0000${ip}`;
    const known = held.get(k);
    if (known !== undefined) return known;
    let key = perTenant.get(tenant);
    if (!key) {
      key = createHmac('sha256', secret).update(`winnow address key\u0000${tenant}`).digest();
      perTenant.set(tenant, key);
    }
    return held.remember(k, createHmac('sha256', key).update(ip).digest('hex').slice(0, 32));
  };
}

/** A dotted quad in its plain form (no leading zeros, which ipaddr.js would read as octal). */
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** The address cut to its network: /24 for IPv4, /48 for IPv6 ('' when it is not an address). */
export function addressPrefix(ip: string): string {
  // Most addresses are plain IPv4: cut without parsing twice (ipaddr.js below takes every other form).
  const quad = DOTTED_QUAD.exec(ip);
  if (quad && Number(quad[1]) <= 255 && Number(quad[2]) <= 255 && Number(quad[3]) <= 255 && Number(quad[4]) <= 255) return `${quad[1]}.${quad[2]}.${quad[3]}.0/24`;
  if (!ipaddr.isValid(ip)) return '';
  let a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  if (a.kind() === 'ipv4') {
    const o = (a as ipaddr.IPv4).octets;
    return `${o[0]}.${o[1]}.${o[2]}.0/24`;
  }
  const p = (a as ipaddr.IPv6).parts;
  return `${p[0]!.toString(16)}:${p[1]!.toString(16)}:${p[2]!.toString(16)}::/48`;
}

/** What the rules need of one request: computed once where the request is seen (the classifier). */
export function evidenceOf(e: EdgeEvent, key: AddressKeyer): Evidence {
  const net = networkOf(e.ip);
  const headers: Record<string, string> = {};
  for (const h of RULE_HEADERS) {
    const v = e.headers[h];
    if (v !== undefined) headers[h] = v;
  }
  // A literal, not create(): built once per event, and the type lists every field.
  return {
    $typeName: 'winnow.verdict.v1.Evidence',
    addressKey: key(e.tenant, e.ip),
    addressPrefix: addressPrefix(e.ip),
    asn: net.asn ?? 0,
    networkOrg: net.org ?? '',
    networkCategory: net.category ?? '',
    appleRelay: net.appleRelay,
    googleSpecialCrawler: net.googleSpecialCrawler,
    microsoftEop: net.microsoftEop,
    headers,
  };
}

/** The network as the evidence recorded it. */
export function networkOfEvidence(ev: Evidence): NetworkInfo {
  const info: NetworkInfo = { appleRelay: ev.appleRelay, googleSpecialCrawler: ev.googleSpecialCrawler, microsoftEop: ev.microsoftEop };
  if (ev.asn !== 0) {
    info.asn = ev.asn;
    if (ev.networkOrg) info.org = ev.networkOrg;
  }
  if (ev.networkCategory) info.category = ev.networkCategory as NetworkCategory;
  return info;
}

/**
 * The event as the contextual rules see it, from the edge event's identity (ids, kind, link,
 * times, method) and the evidence alone: the address is its key, the headers are the rule headers.
 */
export function fromEvidence(edge: EdgeEvent, ev: Evidence): { trace: TraceEvent; features: EventFeatures } {
  const trace = fromEdgeEvent(edge);
  // A history keeps every event it holds for as long as it holds it (stats: up to its bound). Values
  // that many events share (tenant, campaign, method, the rule headers, the network) are held once.
  trace.tenant = shared.text(trace.tenant);
  trace.campaign = shared.text(trace.campaign);
  trace.recipientDomain = shared.text(trace.recipientDomain);
  trace.method = shared.text(trace.method);
  trace.ip = ev.addressKey;
  trace.headers = shared.headers(ev.headers);
  return { trace, features: { ua: classifyUserAgent(trace.headers['user-agent'] ?? ''), net: shared.network(ev) } };
}

/**
 * One copy of each value many events share. Each table is cleared when it reaches its size, so a
 * stream of distinct values costs at most that many entries (and a value seen after a clear is held
 * once more: only memory, never a result, depends on it). Shared values are frozen: nothing may
 * change them for one event.
 */
class SharedValues {
  private readonly texts: BoundedMap<string>;
  private readonly headerSets: BoundedMap<Readonly<Record<string, string>>>;
  private readonly networks: BoundedMap<NetworkInfo>;

  constructor(max: number) {
    this.texts = new BoundedMap(max);
    this.headerSets = new BoundedMap(max);
    this.networks = new BoundedMap(max);
  }

  text(s: string): string {
    return this.texts.get(s) ?? this.texts.remember(s, s);
  }

  headers(h: Record<string, string>): Record<string, string> {
    let key = '';
    // Length-prefixed, so no two header sets share a key (an absent header is not an empty one).
    for (const name of RULE_HEADERS) {
      const v = h[name];
      key += v === undefined ? '-' : `${v.length}:${v}`;
    }
    const held = this.headerSets.get(key);
    if (held) return held as Record<string, string>;
    const copy: Record<string, string> = {};
    for (const name of RULE_HEADERS) {
      const v = h[name];
      if (v !== undefined) copy[name] = this.text(v);
    }
    return this.headerSets.remember(key, Object.freeze(copy)) as Record<string, string>;
  }

  network(ev: Evidence): NetworkInfo {
    const key = `${ev.asn}\u0000${ev.networkOrg}\u0000${ev.networkCategory}\u0000${Number(ev.appleRelay)}${Number(ev.googleSpecialCrawler)}${Number(ev.microsoftEop)}`;
    return this.networks.get(key) ?? this.networks.remember(key, Object.freeze(networkOfEvidence(ev)) as NetworkInfo);
  }
}
const shared = new SharedValues(50_000);
