import ipaddr from 'ipaddr.js';

/** An IP parsed for range lookups: IPv4 as a number, IPv6 as a bigint. IPv4-mapped IPv6 becomes IPv4. */
export type ParsedIp = { v: 4; n: number } | { v: 6; n: bigint };

export function parseIp(ip: string): ParsedIp | undefined {
  // Fast path for dotted quads, the common case.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m) {
    const parts = [m[1], m[2], m[3], m[4]].map(Number);
    if (parts.some((x) => x! > 255)) return undefined;
    return { v: 4, n: ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]! };
  }
  if (!ipaddr.isValid(ip)) return undefined;
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6') {
    const v6 = a as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return parseIp(v6.toIPv4Address().toString());
    let n = 0n;
    for (const b of v6.toByteArray()) n = (n << 8n) | BigInt(b);
    return { v: 6, n };
  }
  return parseIp(a.toString());
}

/** A set of IP ranges with a tag each, for binary-search lookups. */
export class RangeSet<T> {
  private v4: Array<[number, number, T]> = [];
  private v6: Array<[bigint, bigint, T]> = [];
  private sorted = true;

  addRange4(start: number, end: number, tag: T): void {
    this.v4.push([start, end, tag]);
    this.sorted = false;
  }

  /** Adds a CIDR (`1.2.3.0/24`, `2001:db8::/32`) or a single address. Malformed entries throw. */
  addCidr(cidr: string, tag: T): void {
    const [addr, bitsText] = cidr.split('/');
    const ip = parseIp(addr!);
    if (!ip) throw new RangeError(`not an IP range: ${cidr}`);
    if (ip.v === 4) {
      const bits = bitsText === undefined ? 32 : Number(bitsText);
      const size = 2 ** (32 - bits);
      const start = ip.n - (ip.n % size);
      this.v4.push([start, start + size - 1, tag]);
    } else {
      const bits = BigInt(bitsText === undefined ? 128 : Number(bitsText));
      const size = 1n << (128n - bits);
      const start = ip.n - (ip.n % size);
      this.v6.push([start, start + size - 1n, tag]);
    }
    this.sorted = false;
  }

  private sort(): void {
    this.v4.sort((a, b) => a[0] - b[0]);
    this.v6.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.sorted = true;
  }

  /** The tag of a range holding the address, or undefined. */
  lookup(ip: ParsedIp | undefined): T | undefined {
    if (!ip) return undefined;
    if (!this.sorted) this.sort();
    const list = ip.v === 4 ? this.v4 : this.v6;
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]![0] <= ip.n) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Ranges may nest (merged lists rarely do); the nearest start at or below is checked.
    if (found >= 0 && list[found]![1] >= ip.n) return list[found]![2];
    return undefined;
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }
}
