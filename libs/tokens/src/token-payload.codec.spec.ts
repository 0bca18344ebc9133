import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EventKind, LinkRole, TokenPayloadSchema } from '@winnow/proto';
import { decodeTokenPayload, encodeTokenPayload } from './token-payload.codec';

const full = create(TokenPayloadSchema, {
  tenant: 'clinic',
  campaign: 'flu-2026',
  message: 'msg-1',
  kind: EventKind.CLICK,
  linkIndex: 7,
  linkRole: LinkRole.HONEYPOT,
  targetUrl: 'https://clinic.example/ü?x=1',
  sentAtUnixS: '1790000000',
  links: 9,
  recipientDomain: 'contoso.org',
});

describe('token payload codec', () => {
  it('decodes every field of the schema exactly as fromBinary does', () => {
    const bytes = toBinary(TokenPayloadSchema, full);
    const mine = decodeTokenPayload(bytes)!;
    expect(mine).toEqual(fromBinary(TokenPayloadSchema, bytes));
    for (const f of TokenPayloadSchema.fields) {
      const name = f.localName as keyof typeof full;
      expect(mine[name], `field ${f.name}`).toEqual(full[name]);
      expect(mine[name], `field ${f.name} must be set in the fixture`).not.toEqual(create(TokenPayloadSchema)[name]);
    }
  });

  it('skips fields it does not know and refuses garbage', () => {
    const extra = Buffer.concat([Buffer.from(toBinary(TokenPayloadSchema, full)), Buffer.from([0xa8, 0x01, 0x05, 0xb2, 0x01, 0x02, 0x61, 0x62, 0xbd, 0x01, 1, 2, 3, 4])]);
    expect(decodeTokenPayload(extra)).toEqual(full);
    expect(decodeTokenPayload(Buffer.from([0x0a, 0x05, 0x61]))).toBeUndefined();
    expect(decodeTokenPayload(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBeUndefined();
    expect(decodeTokenPayload(Buffer.from([0x0b]))).toBeUndefined();
  });

  it('refuses what fuzzing found it took and protobuf-es does not', () => {
    // A known string field sent as fixed64; a field number past 2^29 - 1 (fuzz.spec.ts, seed 20261130).
    expect(decodeTokenPayload(Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeTokenPayload(Uint8Array.from([128, 128, 128, 128, 16, 0]))).toBeUndefined();
  });
});

describe('token payload encoder', () => {
  // A small seeded generator, so a failure can be replayed.
  let seed = 20261201;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const text = () => pick(['', 'clinic', 'flu-2026', 'ü', 'https://clinic.example/ü?x=1&y=2', 'x'.repeat(200), 'a\u0000b', '\ud83d\ude00', 'lone \ud800 surrogate', 'z'.repeat(3000)]);
  const int32 = () => pick([0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 31 - 1, -1, -(2 ** 31), Math.floor(rnd() * 1e6)]);
  const int64 = () => pick(['0', '1', '1790000000', '4294967295', '9007199254740993', '9223372036854775807', '-1', '-9223372036854775808', String(Math.floor(rnd() * 2 ** 40))]);

  it('writes what toBinary writes, byte for byte, for every field and its edges', () => {
    for (let i = 0; i < 3000; i++) {
      const p: Record<string, unknown> = {};
      if (rnd() < 0.8) p['tenant'] = text();
      if (rnd() < 0.8) p['campaign'] = text();
      if (rnd() < 0.8) p['message'] = text();
      if (rnd() < 0.8) p['kind'] = pick([0, 1, 2, 7, -3]);
      if (rnd() < 0.8) p['linkIndex'] = int32();
      if (rnd() < 0.8) p['linkRole'] = pick([0, 1, 2, 3, 99]);
      if (rnd() < 0.8) p['targetUrl'] = text();
      if (rnd() < 0.8) p['sentAtUnixS'] = int64();
      if (rnd() < 0.8) p['links'] = int32();
      if (rnd() < 0.8) p['recipientDomain'] = text();
      const mine = encodeTokenPayload(p);
      expect(mine, JSON.stringify(p)).toBeDefined();
      expect(Buffer.from(mine!).equals(Buffer.from(toBinary(TokenPayloadSchema, create(TokenPayloadSchema, p))))).toBe(true);
    }
  });

  it('leaves to protobuf-es what it would not write the same way', () => {
    expect(encodeTokenPayload({ linkIndex: 1.5 })).toBeUndefined();
    expect(encodeTokenPayload({ links: 2 ** 31 })).toBeUndefined();
    expect(encodeTokenPayload({ sentAtUnixS: 'soon' })).toBeUndefined();
    expect(encodeTokenPayload({ sentAtUnixS: '' })).toBeUndefined();
    expect(encodeTokenPayload({ sentAtUnixS: '9223372036854775808' })).toBeUndefined();
  });
});

