import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema, EventKind, LinkRole, PathKind, ProtoWriter, encodeEdgeEvent, type EdgeEventFields } from './index';

const full: EdgeEventFields = {
  id: '0f8e2c1a-1111-4222-8333-944455556666',
  tenant: 'clinic',
  campaign: 'flu',
  message: 'm-1',
  kind: EventKind.CLICK,
  linkIndex: 3,
  linkRole: LinkRole.UNSUBSCRIBE,
  method: 'GET',
  pathKind: PathKind.CLICK,
  ip: '2001:db8::1',
  headers: { 'user-agent': 'Mozilla/5.0 (é)', 'accept-language': 'de-CH' },
  atUnixMs: '1790000000123',
  deliveredAtUnixMs: '1789990000000',
  links: 5,
  recipientDomain: 'contoso.org',
};

const reference = (e: EdgeEventFields) => Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, e)));

describe('edge event codec', () => {
  it('gives the same bytes as protobuf-es for every field of the schema', () => {
    const bytes = encodeEdgeEvent(full);
    expect(bytes.equals(reference(full))).toBe(true);
    const decoded = fromBinary(EdgeEventSchema, bytes);
    // Every field the schema has must be set above and survive the round trip.
    for (const field of EdgeEventSchema.fields) {
      const name = field.localName as keyof EdgeEventFields;
      expect(full[name], `field ${field.name} is not covered`).not.toBeUndefined();
      expect(decoded[name], `field ${field.name} is not encoded`).toEqual(full[name]);
    }
  });

  it('leaves defaults out, as proto3 does', () => {
    const sparse = { ...full, campaign: '', linkIndex: 0, headers: {}, deliveredAtUnixMs: '0', recipientDomain: '' };
    expect(encodeEdgeEvent(sparse).equals(reference(sparse))).toBe(true);
  });

  // Lengths are written in one, two or three bytes, and short strings are measured after writing:
  // each boundary and multi-byte text must still give protobuf-es's bytes.
  it.each([
    ['42 three-byte characters (126 bytes)', 'ア'.repeat(42)],
    ['43 three-byte characters (129 bytes)', 'ア'.repeat(43)],
    // A map entry is (tag, length, key) + (tag, length, value): 4 + 6 + value bytes for `accept`.
    ['an entry of exactly 127 bytes', 'v'.repeat(127 - 4 - 'accept'.length)],
    ['an entry of exactly 128 bytes', 'v'.repeat(128 - 4 - 'accept'.length)],
    ['127 ASCII characters', 'a'.repeat(127)],
    ['128 ASCII characters', 'a'.repeat(128)],
    ['a 512-character value', 'Mozilla/5.0 '.repeat(43).slice(0, 512)],
    // Past 127 bytes the value's own length takes two bytes: 5 + 6 + value bytes.
    ['an entry of exactly 16,383 bytes', 'v'.repeat(16_383 - 5 - 'accept'.length)],
    ['an entry of exactly 16,384 bytes', 'v'.repeat(16_384 - 5 - 'accept'.length)],
    ['an entry past 16,383 bytes', 'é'.repeat(9000)],
    ['an empty value', ''],
    ['astral and lone surrogate characters', '😀 \ud800 x'],
  ])('matches protobuf-es for %s', (_label, value) => {
    const e = { ...full, message: value || 'm', campaign: value, headers: { accept: value, 'user-agent': 'UA' } };
    expect(encodeEdgeEvent(e).equals(reference(e))).toBe(true);
  });

  it('writes a negative link index as protobuf does (ten bytes, sign-extended)', () => {
    for (const linkIndex of [-1, -2, -128, -2147483648]) {
      const e = { ...full, linkIndex };
      expect(encodeEdgeEvent(e).equals(reference(e)), String(linkIndex)).toBe(true);
    }
  });

  it('keeps separate results when one encoder is reused (the scratch buffer is copied out)', () => {
    const encoder = new ProtoWriter();
    const a = encoder.edgeEvent(full);
    const aCopy = Buffer.from(a);
    // Same size, other bytes: written over the same scratch.
    const other = encoder.edgeEvent({ ...full, id: full.id.replaceAll('1', '2'), tenant: 'CLINIC' });
    expect(a.equals(aCopy)).toBe(true);
    expect(other.equals(aCopy)).toBe(false);
    // Larger than the scratch: it grows, and earlier results stay as they were.
    const b = encoder.edgeEvent({ ...full, id: 'another-id', headers: { accept: 'x'.repeat(20_000) } });
    expect(a.equals(aCopy)).toBe(true);
    expect(fromBinary(EdgeEventSchema, b).headers['accept']).toHaveLength(20_000);
    expect(encoder.edgeEvent(full).equals(aCopy)).toBe(true);
  });

  it('hands an epoch value past the safe integers to protobuf-es instead of writing a wrong one', () => {
    const far = { ...full, atUnixMs: '9007199254740993' };
    expect(encodeEdgeEvent(far).equals(reference(far))).toBe(true);
  });
});
