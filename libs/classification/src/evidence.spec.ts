import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema, EventKind, EvidenceSchema } from '@winnow/proto';
import { createHmac } from 'node:crypto';
import { ADDRESS_KEYS_HELD, addressKeyer, addressPrefix, evidenceOf, fromEvidence } from './evidence';

describe('addressPrefix', () => {
  it('cuts IPv4 to /24 and IPv6 to /48', () => {
    expect(addressPrefix('192.0.2.77')).toBe('192.0.2.0/24');
    expect(addressPrefix('0.0.0.0')).toBe('0.0.0.0/24');
    expect(addressPrefix('255.255.255.255')).toBe('255.255.255.0/24');
    expect(addressPrefix('2001:db8:a13e::2')).toBe('2001:db8:a13e::/48');
    expect(addressPrefix('::ffff:203.0.113.9')).toBe('203.0.113.0/24');
  });

  it('reads the forms a plain dotted quad is not as ipaddr.js does, and refuses what is no address', () => {
    // Leading zeros are octal to ipaddr.js (010 = 8), as before the plain-form shortcut.
    expect(addressPrefix('010.0.2.1')).toBe('8.0.2.0/24');
    expect(addressPrefix('256.1.1.1')).toBe('');
    expect(addressPrefix('1.2.3')).toBe(addressPrefix('1.2.0.3'));
    expect(addressPrefix('')).toBe('');
    expect(addressPrefix('not an address')).toBe('');
    expect(addressPrefix('1.2.3.4 ')).toBe('');
  });
});

describe('evidenceOf', () => {
  const keyer = addressKeyer('evidence-spec-secret-0123456789abcdef');
  const edge = create(EdgeEventSchema, {
    id: 'e1',
    tenant: 'clinic',
    campaign: 'c',
    message: 'm',
    kind: EventKind.CLICK,
    method: 'GET',
    ip: '40.107.3.4',
    atUnixMs: '1767000000000',
    headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'accept-language': 'en-US', cookie: 'x=1', host: 'links.example' },
  });

  it('is a complete Evidence message: it encodes and decodes to itself, and equals one built by create()', () => {
    const ev = evidenceOf(edge, keyer);
    const again = fromBinary(EvidenceSchema, toBinary(EvidenceSchema, ev));
    expect(equals(EvidenceSchema, again, ev)).toBe(true);
    const built = create(EvidenceSchema, {
      addressKey: keyer('clinic', '40.107.3.4'),
      addressPrefix: '40.107.3.0/24',
      asn: ev.asn,
      networkOrg: ev.networkOrg,
      networkCategory: ev.networkCategory,
      appleRelay: false,
      googleSpecialCrawler: false,
      microsoftEop: true,
      headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'accept-language': 'en-US' },
    });
    expect(equals(EvidenceSchema, ev, built)).toBe(true);
    expect(ev.networkCategory).toBe('microsoft');
  });

  it('keeps only the rule headers, and keys the address per tenant', () => {
    const ev = evidenceOf(edge, keyer);
    expect(Object.keys(ev.headers).sort()).toEqual(['accept-language', 'user-agent']);
    expect(ev.addressKey).toMatch(/^[0-9a-f]{32}$/);
    expect(keyer('other-tenant', '40.107.3.4')).not.toBe(ev.addressKey);
    expect(evidenceOf(create(EdgeEventSchema, { tenant: 'clinic', ip: '' }), keyer)).toMatchObject({ addressKey: '', addressPrefix: '' });
  });

  it('gives remembered addresses the keys a fresh keyer gives, per tenant, and after forgetting them past its bound', () => {
    const secret = 'evidence-spec-secret-0123456789abcdef';
    // The key as the documented construction computes it, with nothing remembered.
    const fresh = (tenant: string, ip: string) =>
      createHmac('sha256', createHmac('sha256', secret).update(`winnow address key\u0000${tenant}`).digest()).update(ip).digest('hex').slice(0, 32);
    const k = addressKeyer(secret);
    const ips = Array.from({ length: ADDRESS_KEYS_HELD + 500 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    for (const round of [0, 1]) {
      for (const tenant of ['clinic', 'pharmacy']) {
        // Enough addresses that the keyer forgets all it holds at least once in each round.
        for (let i = 0; i < ips.length; i += 97) expect(k(tenant, ips[i]!), `${round} ${tenant} ${ips[i]}`).toBe(fresh(tenant, ips[i]!));
        for (const ip of ips) k(tenant, ip);
        expect(k(tenant, ips[0]!)).toBe(fresh(tenant, ips[0]!));
        expect(k(tenant, ips[ips.length - 1]!)).toBe(fresh(tenant, ips[ips.length - 1]!));
      }
    }
    expect(k('clinic', '192.0.2.1')).not.toBe(k('pharmacy', '192.0.2.1'));
  });
});

describe('fromEvidence', () => {
  const keyer = addressKeyer('evidence-spec-secret-0123456789abcdef');
  const edgeWith = (id: string, headers: Record<string, string>) =>
    create(EdgeEventSchema, { id, tenant: 'clinic', campaign: 'flu', message: `m-${id}`, kind: EventKind.CLICK, atUnixMs: '1772445600000', deliveredAtUnixMs: '1772445500000', method: 'GET', ip: '198.51.100.7', headers });

  it('holds one copy of the headers and network many events share, and keeps an absent header apart from an empty one', () => {
    const h = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36', 'accept-language': 'en-US' };
    const a = edgeWith('a', { ...h });
    const b = edgeWith('b', { ...h });
    const ta = fromEvidence(a, evidenceOf(a, keyer));
    const tb = fromEvidence(b, evidenceOf(b, keyer));
    expect(tb.trace.headers).toBe(ta.trace.headers);
    expect(tb.features.net).toBe(ta.features.net);
    expect(tb.trace.headers).toEqual(h);
    expect(Object.isFrozen(ta.trace.headers)).toBe(true);
    // The rules tell `sec-fetch-mode` absent from present-but-empty: so must the sharing.
    const c = edgeWith('c', { ...h, 'sec-fetch-mode': '' });
    const tc = fromEvidence(c, evidenceOf(c, keyer));
    expect(tc.trace.headers).not.toBe(ta.trace.headers);
    expect(tc.trace.headers['sec-fetch-mode']).toBe('');
    expect(ta.trace.headers['sec-fetch-mode']).toBeUndefined();
    expect(ta.trace).toMatchObject({ id: 'a', tenant: 'clinic', campaign: 'flu', message: 'm-a', kind: 'click', method: 'GET', ip: evidenceOf(a, keyer).addressKey });
  });
});
