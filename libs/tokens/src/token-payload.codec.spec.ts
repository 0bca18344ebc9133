import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EventKind, LinkRole, TokenPayloadSchema } from '@winnow/proto';
import { decodeTokenPayload } from './token-payload.codec';

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
