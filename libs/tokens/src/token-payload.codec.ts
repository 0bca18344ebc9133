import type { TokenPayload } from '@winnow/proto';

/**
 * Decodes a winnow.token.v1.TokenPayload without protobuf-es reflection: the collector opens one
 * token per request, and fromBinary costs several microseconds there. Handles every wire type (so
 * fields added later are skipped, as protobuf requires) and returns undefined for bytes that are
 * not a valid message. token-payload.codec.spec.ts checks it against fromBinary for every field.
 */
export function decodeTokenPayload(buf: Uint8Array): TokenPayload | undefined {
  // A plain object of the generated shape, the same as create(TokenPayloadSchema) gives (the
  // spec compares them): create() walks the schema on every call.
  const p: TokenPayload = {
    $typeName: 'winnow.token.v1.TokenPayload',
    tenant: '',
    campaign: '',
    message: '',
    kind: 0,
    linkIndex: 0,
    linkRole: 0,
    targetUrl: '',
    sentAtUnixS: '0',
    links: 0,
    recipientDomain: '',
  };
  const r: Reader = { buf, pos: 0 };
  const end = buf.length;
  while (r.pos < end) {
    const tag = varint(r);
    if (tag < 0) return undefined;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    // Field numbers run from 1 to 2^29 - 1.
    if (field === 0 || field > 536_870_911) return undefined;
    // A known field with another wire type is not this message (protobuf-es refuses it too).
    const expected = STRING_FIELDS.has(field) ? 2 : VARINT_FIELDS.has(field) ? 0 : -1;
    if (expected !== -1 && wire !== expected) return undefined;
    if (wire === 2) {
      const len = varint(r);
      if (len < 0 || r.pos + len > end) return undefined;
      const from = r.pos;
      r.pos += len;
      if (field === 1 || field === 2 || field === 3 || field === 7 || field === 10) {
        const v = Buffer.from(buf.buffer, buf.byteOffset + from, len).toString('utf8');
        if (field === 1) p.tenant = v;
        else if (field === 2) p.campaign = v;
        else if (field === 3) p.message = v;
        else if (field === 7) p.targetUrl = v;
        else p.recipientDomain = v;
      }
    } else if (wire === 0) {
      const v = varint(r);
      if (v < 0) return undefined;
      if (field === 4) p.kind = v;
      else if (field === 5) p.linkIndex = v > 0x7fffffff ? v - 2 ** 64 : v;
      else if (field === 6) p.linkRole = v;
      else if (field === 8) p.sentAtUnixS = String(v);
      else if (field === 9) p.links = v > 0x7fffffff ? v - 2 ** 64 : v;
    } else if (wire === 1) r.pos += 8;
    else if (wire === 5) r.pos += 4;
    else return undefined;
    if (r.pos > end) return undefined;
  }
  return p;
}

const STRING_FIELDS = new Set([1, 2, 3, 7, 10]);
const VARINT_FIELDS = new Set([4, 5, 6, 8, 9]);

interface Reader {
  buf: Uint8Array;
  pos: number;
}

/** The next varint, or -1 when it is truncated or longer than ten bytes. */
function varint(r: Reader): number {
  let result = 0;
  let mul = 1;
  const { buf } = r;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= buf.length) return -1;
    const b = buf[r.pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) return result;
    mul *= 128;
  }
  return -1;
}
