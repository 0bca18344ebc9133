import data from '../data/networks.json';
import { RangeSet, parseIp } from './ip-ranges';

/** What kind of network an address belongs to, as far as the published data tells. */
export type NetworkCategory = 'microsoft' | 'google' | 'cloud' | 'relay_cdn' | 'security_vendor';

export interface NetworkInfo {
  /** In Apple's iCloud Private Relay egress list (also where Mail Privacy Protection fetches from). */
  appleRelay: boolean;
  /** In Google's special-crawlers list (Gmail prefetch, Google safety scanners). */
  googleSpecialCrawler: boolean;
  /** In Microsoft's Exchange Online Protection ranges. */
  microsoftEop: boolean;
  asn?: number;
  org?: string;
  category?: NetworkCategory;
}

interface NetworkData {
  sources: Record<string, string>;
  appleRelay: string[];
  googleSpecialCrawlers: string[];
  microsoftEop: string[];
  asnNetworks: Record<string, { org: string; category: NetworkCategory }>;
  asnIpv4: Array<[number, number, number]>;
}

const d = data as unknown as NetworkData;

/** Where the network data came from (stamped into docs and the rule-set description). */
export const NETWORK_SOURCES: Readonly<Record<string, string>> = d.sources;

let tables: { relay: RangeSet<true>; google: RangeSet<true>; eop: RangeSet<true>; asn: RangeSet<number> } | undefined;

function load() {
  const relay = new RangeSet<true>();
  for (const c of d.appleRelay) relay.addCidr(c, true);
  const google = new RangeSet<true>();
  for (const c of d.googleSpecialCrawlers) google.addCidr(c, true);
  const eop = new RangeSet<true>();
  for (const c of d.microsoftEop) eop.addCidr(c, true);
  const asn = new RangeSet<number>();
  for (const [s, e, a] of d.asnIpv4) asn.addRange4(s, e, a);
  return { relay, google, eop, asn };
}

const cache = new Map<string, NetworkInfo>();

/** Looks an address up in every table (results cached per address, bounded). */
export function networkOf(ip: string): NetworkInfo {
  const hit = cache.get(ip);
  if (hit) return hit;
  tables ??= load();
  const parsed = parseIp(ip);
  const asn = tables.asn.lookup(parsed);
  const net = asn === undefined ? undefined : d.asnNetworks[String(asn)];
  const info: NetworkInfo = {
    appleRelay: tables.relay.lookup(parsed) === true,
    googleSpecialCrawler: tables.google.lookup(parsed) === true,
    microsoftEop: tables.eop.lookup(parsed) === true,
    ...(asn !== undefined ? { asn, org: net?.org, category: net?.category } : {}),
  };
  if (info.microsoftEop && !info.category) info.category = 'microsoft';
  if (cache.size > 100_000) cache.clear();
  cache.set(ip, info);
  return info;
}
