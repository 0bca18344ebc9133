import { randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventKind, LinkRole, TokenPayloadSchema } from '@winnow/proto';
import { Keyring, TokenRejection, sealToken, tryOpenToken } from './token-codec';
import { decodeTokenPayload } from './token-payload.codec';

// Property-based fuzzing with a fixed number of inputs per target (printed), seeded so a failure
// reproduces; a counterexample found here becomes an example test.
const RUNS = 2_000;
const SEED = 20261130;
const run = (target: string, property: fc.IProperty<any> | fc.IAsyncProperty<any>) => {
  process.stdout.write(`fuzz ${target}: ${RUNS} inputs\n`);
  return fc.assert(property as fc.IProperty<unknown>, { numRuns: RUNS, seed: SEED });
};

const keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }], 'k1');
const now = 1_790_000_000;
const opts = { nowS: now, maxAgeS: 0, tenant: 'clinic' };
const name = fc.string({ minLength: 1, maxLength: 40 });
const payload = fc.record({
  tenant: fc.constant('clinic'),
  campaign: name,
  message: name,
  kind: fc.constantFrom(EventKind.OPEN, EventKind.CLICK),
  linkIndex: fc.integer({ min: 0, max: 200 }),
  linkRole: fc.constantFrom(LinkRole.CONTENT, LinkRole.HONEYPOT, LinkRole.UNSUBSCRIBE),
  targetUrl: fc.webUrl(),
  sentAtUnixS: fc.integer({ min: 0, max: now }).map(String),
  links: fc.integer({ min: 0, max: 200 }),
});

describe('hostile tokens, found by a machine', () => {
  it('never throws on any string, and refuses what is not a sealed token', () =>
    run(
      'token decoder (random strings)',
      fc.property(fc.oneof(fc.string({ maxLength: 600 }), fc.base64String({ maxLength: 600 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))), (s) => {
        const r = tryOpenToken(keyring, s, opts);
        expect(r.ok).toBe(false);
      }),
    ));

  it('opens every token it sealed, and refuses it after any one byte is changed', () =>
    run(
      'token decoder (sealed, then one byte flipped)',
      fc.property(payload, fc.nat(), fc.integer({ min: 1, max: 255 }), (p, at, flip) => {
        const token = sealToken(keyring, p);
        const opened = tryOpenToken(keyring, token, opts);
        expect(opened.ok && opened.payload).toMatchObject({ campaign: p.campaign, message: p.message, linkIndex: p.linkIndex, targetUrl: p.targetUrl });
        const raw = Buffer.from(token, 'base64url');
        raw[at % raw.length]! ^= flip;
        const r = tryOpenToken(keyring, raw.toString('base64url'), opts);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(Object.values(TokenRejection)).toContain(r.reason);
      }),
    ));

  it('decodes payload bytes no more loosely than protobuf-es, and every valid message alike, never throwing', () =>
    run(
      'token payload codec (random bytes and valid messages)',
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => ({ b, valid: false })), payload.map((p) => ({ b: toBinary(TokenPayloadSchema, create(TokenPayloadSchema, p)), valid: true }))), ({ b, valid }) => {
        const mine = decodeTokenPayload(b);
        let reference: { $unknown?: unknown } | undefined;
        try {
          reference = fromBinary(TokenPayloadSchema, b);
        } catch {
          reference = undefined;
        }
        if (valid) expect(mine).toBeDefined();
        if (mine === undefined) return;
        // What it takes, protobuf-es takes too, with the same fields (fields added later are
        // skipped here and kept aside by protobuf-es as $unknown). It refuses more: a known field
        // with another wire type.
        expect(reference).toBeDefined();
        delete reference!.$unknown;
        expect(mine).toEqual(reference);
      }),
    ));
});
