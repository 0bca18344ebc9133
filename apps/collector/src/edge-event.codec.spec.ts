import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema, EventKind, LinkRole, PathKind } from '@winnow/proto';
import { encodeEdgeEvent, type EdgeEventFields } from './edge-event.codec';

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

describe('edge event codec', () => {
  it('gives the same bytes as protobuf-es for every field of the schema', () => {
    const bytes = encodeEdgeEvent(full);
    expect(Buffer.from(bytes).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, full))))).toBe(true);
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
    expect(Buffer.from(encodeEdgeEvent(sparse)).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, sparse))))).toBe(true);
  });
});
