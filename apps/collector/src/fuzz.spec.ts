import { create, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema, EventKind, LinkRole, PathKind } from '@winnow/proto';
import { encodeEdgeEvent, type EdgeEventFields } from '@winnow/proto';
import { MAX_KEPT_HEADER_CHARS, clientIp, compileTrust, parseRoute, scanHeaders } from './edge-request';

// Property-based fuzzing, a fixed number of inputs per target (printed), seeded.
const RUNS = 2_000;
const SEED = 20261130;
const run = (target: string, property: fc.IProperty<any>) => {
  process.stdout.write(`fuzz ${target}: ${RUNS} inputs\n`);
  fc.assert(property as fc.IProperty<unknown>, { numRuns: RUNS, seed: SEED });
};

const text = fc.string({ unit: 'binary', maxLength: 80 });
const fields: fc.Arbitrary<EdgeEventFields> = fc.record({
  id: text,
  tenant: text,
  campaign: text,
  message: text,
  kind: fc.constantFrom(EventKind.UNSPECIFIED, EventKind.OPEN, EventKind.CLICK),
  linkIndex: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  linkRole: fc.constantFrom(LinkRole.UNSPECIFIED, LinkRole.CONTENT, LinkRole.HONEYPOT, LinkRole.UNSUBSCRIBE),
  method: text,
  pathKind: fc.constantFrom(PathKind.UNSPECIFIED, PathKind.PIXEL, PathKind.CLICK),
  ip: text,
  headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), text, { maxKeys: 6 }),
  // Times are the edge's own clock and the sealed send time: safe integers (beyond, toBinary writes them: below).
  atUnixMs: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }).map(String),
  deliveredAtUnixMs: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }).map(String),
  links: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  recipientDomain: text,
});

describe('the request parser paths and the edge-event codec, found by a machine', () => {
  it('parses any request target without throwing, and only /o/ or /c/ with one token segment', () =>
    run(
      'route parser',
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.tuple(fc.constantFrom('/o/', '/c/', '/x/', '//', '/o'), fc.string({ maxLength: 100 })).map(([a, b]) => a + b)), (target) => {
        const r = parseRoute(target);
        if (r) {
          expect(/^\/[oc]\//.test(target)).toBe(true);
          expect(r.token.includes('/')).toBe(false);
          expect(r.token.length).toBeGreaterThan(0);
        }
      }),
    ));

  it('scans any header list without throwing, keeping only allowed names, cut to the limit', () =>
    run(
      'header scan',
      fc.property(fc.array(fc.tuple(fc.oneof(fc.constantFrom('User-Agent', 'Referer', 'From', 'Host', 'X-Forwarded-For', 'Cookie', 'X-Moz'), fc.string({ maxLength: 20 })), fc.string({ unit: 'binary', maxLength: 700 })), { maxLength: 30 }), (pairs) => {
        const { kept } = scanHeaders(pairs.flat());
        for (const [name, value] of Object.entries(kept)) {
          expect(['user-agent', 'accept-language', 'sec-fetch-mode', 'sec-fetch-user', 'sec-purpose', 'purpose', 'x-purpose', 'x-moz', 'referer']).toContain(name);
          expect(value.length).toBeLessThanOrEqual(MAX_KEPT_HEADER_CHARS);
        }
        expect(kept).not.toHaveProperty('from');
      }),
    ));

  it('never takes a client address from headers of an untrusted peer, whatever they say', () =>
    run(
      'client address (forwarding headers)',
      fc.property(fc.ipV4(), fc.string({ maxLength: 200 }), (peer, xff) => {
        expect(clientIp(peer, xff, compileTrust([]))).toBe(peer);
        expect(clientIp(peer, xff, compileTrust(['10.0.0.0/8'])) === peer || peer.startsWith('10.')).toBe(true);
      }),
    ));

  it('encodes any edge event to exactly the bytes protobuf-es gives', () =>
    run(
      'edge-event codec (differential, against protobuf-es)',
      fc.property(fields, (e) => {
        expect(Buffer.from(encodeEdgeEvent(e)).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, e))))).toBe(true);
      }),
    ));

  it('writes a time past the safe integers as protobuf-es does (found by fuzzing; handed to toBinary)', () => {
    const e = { id: '', tenant: '', campaign: '', message: '', kind: 0, linkIndex: 0, linkRole: 0, method: '', pathKind: 0, ip: '', headers: {}, atUnixMs: '9007199254740992', deliveredAtUnixMs: '0', links: 0, recipientDomain: '' } as EdgeEventFields;
    expect(Buffer.from(encodeEdgeEvent(e)).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, e))))).toBe(true);
  });
});
