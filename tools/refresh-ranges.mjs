#!/usr/bin/env node
// Refreshes the classifier's network data in libs/classification/data.
//
//   node tools/refresh-ranges.mjs            rebuild asn-subset.json from npm @ip-location-db/asn
//   node tools/refresh-ranges.mjs --fetch    also download the published range lists (production;
//                                            this build machine has no internet)
//
// Sources (also in libs/classification/data/README.md):
//   Apple iCloud Private Relay egress  https://mask-api.icloud.com/egress-ip-ranges.csv
//   Google special crawlers            https://developers.google.com/static/crawling/ipranges/special-crawlers.json
//   Microsoft 365 endpoints (EOP)      https://endpoints.office.com/endpoints/worldwide?clientrequestid=<uuid>
//   IP to ASN                          npm @ip-location-db/asn (CC-BY-4.0: RouteViews and DB-IP)
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const dataDir = fileURLToPath(new URL('../libs/classification/data/', import.meta.url));

/** Networks the classifier names; security vendors are found by organisation name. */
const NAMED = {
  microsoft: [8075, 8074, 8068, 8069, 12076, 3598],
  google: [15169, 396982, 19527, 36040, 43515, 36384, 36492],
  cloud: [16509, 14618, 8987, 14061, 16276, 24940, 63949, 31898, 45102, 20473, 132203],
  relay_cdn: [36183, 20940, 16625, 13335, 54113],
};
const SECURITY_VENDOR = /proofpoint|mimecast|barracuda|zscaler|forcepoint|trend ?micro|trellix|check ?point software|sophos tech|palo alto networks/i;

function category(asn, org) {
  for (const [cat, list] of Object.entries(NAMED)) if (list.includes(asn)) return cat;
  if (SECURITY_VENDOR.test(org)) return 'security_vendor';
  return undefined;
}

const pkgDir = join(require.resolve('@ip-location-db/asn/package.json'), '..');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const networks = {};
const ipv4 = [];
for (const line of readFileSync(join(pkgDir, 'asn-ipv4-num.csv'), 'utf8').split('\n')) {
  const m = /^(\d+),(\d+),(\d+),(.*)$/.exec(line);
  if (!m) continue;
  const asn = Number(m[3]);
  const org = m[4].replace(/^"|"$/g, '').replace(/""/g, '"');
  const cat = category(asn, org);
  if (!cat) continue;
  networks[asn] ??= { org, category: cat };
  const last = ipv4[ipv4.length - 1];
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (last && last[2] === asn && last[1] + 1 === start) last[1] = end;
  else ipv4.push([start, end, asn]);
}
writeFileSync(
  join(dataDir, 'asn-subset.json'),
  `${JSON.stringify({ source: `npm @ip-location-db/asn ${pkg.version} (CC-BY-4.0, RouteViews and DB-IP)`, networks, ipv4 })}\n`,
);
console.log(`asn-subset.json: ${Object.keys(networks).length} networks, ${ipv4.length} IPv4 ranges`);

/** Everything above, in one JSON module the (file-system-free) classifier library imports. */
function bundle() {
  const lines = (f) => readFileSync(join(dataDir, f), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const google = JSON.parse(readFileSync(join(dataDir, 'google-special-crawlers.json'), 'utf8'));
  const asn = JSON.parse(readFileSync(join(dataDir, 'asn-subset.json'), 'utf8'));
  const out = {
    sources: {
      appleRelay: 'Apple iCloud Private Relay egress (data/apple-private-relay-egress-*.txt)',
      googleSpecialCrawlers: `Google special crawlers, creationTime ${google.creationTime}`,
      microsoftEop: 'Microsoft 365 Exchange Online Protection ranges (data/microsoft-eop.txt)',
      asn: asn.source,
    },
    appleRelay: [...lines('apple-private-relay-egress-ipv4.txt'), ...lines('apple-private-relay-egress-ipv6.txt')],
    googleSpecialCrawlers: google.prefixes.map((p) => p.ipv4Prefix ?? p.ipv6Prefix),
    microsoftEop: lines('microsoft-eop.txt'),
    asnNetworks: asn.networks,
    asnIpv4: asn.ipv4,
  };
  writeFileSync(join(dataDir, '..', 'src', 'data', 'networks.json'), `${JSON.stringify(out)}\n`);
  console.log('src/data/networks.json written');
}

if (process.argv.includes('--fetch')) {
  const get = async (url) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.text();
  };
  const apple = await get('https://mask-api.icloud.com/egress-ip-ranges.csv');
  const v4 = [];
  const v6 = [];
  for (const line of apple.split('\n')) {
    const cidr = line.split(',')[0]?.trim();
    if (cidr) (cidr.includes(':') ? v6 : v4).push(cidr);
  }
  writeFileSync(join(dataDir, 'apple-private-relay-egress-ipv4.txt'), `${v4.join('\n')}\n`);
  writeFileSync(join(dataDir, 'apple-private-relay-egress-ipv6.txt'), `${v6.join('\n')}\n`);
  writeFileSync(join(dataDir, 'google-special-crawlers.json'), await get('https://developers.google.com/static/crawling/ipranges/special-crawlers.json'));
  const ms = JSON.parse(await get(`https://endpoints.office.com/endpoints/worldwide?clientrequestid=${randomUUID()}`));
  const eop = [...new Set(ms.filter((e) => e.serviceArea === 'Exchange' && e.ips).flatMap((e) => e.ips))];
  writeFileSync(join(dataDir, 'microsoft-eop.txt'), `${eop.join('\n')}\n`);
  console.log(`fetched: ${v4.length + v6.length} Apple relay ranges, Google special crawlers, ${eop.length} Microsoft Exchange ranges`);
  console.log('bump RULESET_VERSION in libs/classification/src/ruleset.ts and record the dates in data/README.md');
}

bundle();
