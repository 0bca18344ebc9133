import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { EventKind, PathKind, TokenPayloadSchema } from '@winnow/proto';
import { absoluteTarget, clientIp, compileTrust, edgeEvent, originOf, redirectTarget, scanHeaders } from './edge-request';

describe('what the edge keeps of a request', () => {
  it('keeps no From header and only the origin of the Referer', () => {
    const { kept } = scanHeaders(['User-Agent', 'Mozilla/5.0', 'From', 'patient@example.org', 'Referer', 'https://user:pw@Mail.Example.com:8443/inbox/msg/123?to=patient%40example.org#x', 'Cookie', 'a=b']);
    expect(kept).toEqual({ 'user-agent': 'Mozilla/5.0', referer: 'https://mail.example.com:8443' });
    expect(originOf('not a url')).toBe('');
    expect(originOf('file:///etc/passwd')).toBe('');
  });

  it('takes the address from X-Forwarded-For only through trusted hops', () => {
    const xff = '198.51.100.66, 203.0.113.9';
    expect(clientIp('127.0.0.1', xff, compileTrust([]))).toBe('127.0.0.1');
    expect(clientIp('127.0.0.1', xff, compileTrust(['loopback']))).toBe('203.0.113.9');
    expect(clientIp('127.0.0.1', xff, compileTrust(['loopback', '203.0.113.0/24']))).toBe('198.51.100.66');
    // A peer outside the trusted range is the client, whatever it forwards.
    expect(clientIp('192.0.2.5', xff, compileTrust(['10.0.0.0/8']))).toBe('192.0.2.5');
    expect(clientIp('::ffff:10.1.2.3', '203.0.113.9', compileTrust(['10.0.0.0/8']))).toBe('203.0.113.9');
    expect(clientIp('10.1.2.3', '198.51.100.66, 203.0.113.9, 10.0.0.4', compileTrust(2))).toBe('203.0.113.9');
  });

  it('reads every X-Forwarded-For line: a proxy that adds its own line is not overruled by the client', () => {
    // The client forges an Apple relay address; HAProxy (option forwardfor) adds the one it saw.
    const raw = ['Host', 'h', 'X-Forwarded-For', '104.28.28.1', 'X-Forwarded-For', '198.51.100.9'];
    const { forwardedFor } = scanHeaders(raw);
    expect(forwardedFor).toBe('104.28.28.1, 198.51.100.9');
    expect(clientIp('127.0.0.1', forwardedFor, compileTrust(['loopback']))).toBe('198.51.100.9');
  });

  it('takes the port off X-Forwarded-For entries, so the address is in its network and a trusted hop stays trusted', () => {
    // Azure Application Gateway writes `address:port`.
    expect(clientIp('127.0.0.1', '17.58.100.4:51234', compileTrust(['loopback']))).toBe('17.58.100.4');
    expect(clientIp('127.0.0.1', '[2a01:b747:3001::7]:443', compileTrust(['loopback']))).toBe('2a01:b747:3001::7');
    expect(clientIp('127.0.0.1', '198.51.100.66, 10.0.0.4:8080', compileTrust(['loopback', '10.0.0.0/8']))).toBe('198.51.100.66');
    // Anything else is left as it was: never guessed at.
    expect(clientIp('127.0.0.1', '2001:db8::1', compileTrust(['loopback']))).toBe('2001:db8::1');
  });

  it('reads a request target in absolute form for its host and path, and notices a second Host line', () => {
    expect(absoluteTarget('http://Links.Clinic.example:8080/o/abc.gif?x=1')).toEqual({ host: 'Links.Clinic.example:8080', path: '/o/abc.gif?x=1' });
    expect(absoluteTarget('HTTPS://links.clinic.example')).toEqual({ host: 'links.clinic.example', path: '/' });
    expect(absoluteTarget('/o/abc.gif')).toBeUndefined();
    expect(scanHeaders(['Host', 'a.example', 'User-Agent', 'x']).repeatedHost).toBe(false);
    expect(scanHeaders(['Host', 'a.example', 'host', 'b.example'])).toMatchObject({ host: 'a.example', repeatedHost: true });
  });

  it('sends a link target as the URL parser writes it, so any href fits in a Location header', () => {
    expect(redirectTarget('https://clinic.example/angebot-5€?x=✓')).toBe('https://clinic.example/angebot-5%E2%82%AC?x=%E2%9C%93');
    expect(redirectTarget('https://bücher.example/a b')).toBe('https://xn--bcher-kva.example/a%20b');
    expect(redirectTarget('https://clinic.example/book\n?slot=9')).toBe('https://clinic.example/book?slot=9');
    for (const bad of ['javascript:alert(1)', '/relative', 'https://', '']) expect(redirectTarget(bad)).toBeUndefined();
  });

  it('gives events ids that sort in the order they were captured (RFC 9562 version 7)', async () => {
    const payload = create(TokenPayloadSchema, { tenant: 't', campaign: 'c', message: 'm', kind: EventKind.OPEN });
    const route = { kind: PathKind.PIXEL, token: 'x' } as const;
    const ids: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      ids.push(edgeEvent(payload, route, 'GET', '192.0.2.1', {}, Date.now()).id);
      // Cross a few millisecond boundaries as well as many ids within one.
      if (i % 500 === 0) await new Promise((ok) => setTimeout(ok, 2));
    }
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // The first 48 bits are the capture time in milliseconds.
    const ms = parseInt(ids.at(-1)!.replace('-', '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(5_000);
  });
});
