import { create } from '@bufbuild/protobuf';
import { TokenPayloadSchema, type TokenPayload } from '@winnow/proto';

/**
 * Decodes a winnow.token.v1.TokenPayload without protobuf-es reflection: the collector opens one
 * token per request, and fromBinary costs several microseconds there. Handles every wire type (so
 * fields added later are skipped, as protobuf requires) and returns undefined for bytes that are
 * not a valid message. token-payload.codec.spec.ts checks it against fromBinary for every field.
 */
export function decodeTokenPayload(buf: Uint8Array): TokenPayload | undefined {
  const p = create(TokenPayloadSchema);
  let pos = 0;
  const end = buf.length;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw RangeError('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw RangeError('varint too long');
  };
  const bytes = (): Uint8Array => {
    const len = varint();
    if (pos + len > end) throw RangeError('truncated field');
    const out = buf.subarray(pos, pos + len);
    pos += len;
    return out;
  };
  const text = () => {
    const b = bytes();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  };
  try {
    while (pos < end) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 2 && (field === 1 || field === 2 || field === 3 || field === 7 || field === 10)) {
        const v = text();
        if (field === 1) p.tenant = v;
        else if (field === 2) p.campaign = v;
        else if (field === 3) p.message = v;
        else if (field === 7) p.targetUrl = v;
        else p.recipientDomain = v;
      } else if (wire === 0 && field >= 4 && field <= 9 && field !== 7) {
        const v = varint();
        if (field === 4) p.kind = v;
        else if (field === 5) p.linkIndex = v > 0x7fffffff ? v - 2 ** 64 : v;
        else if (field === 6) p.linkRole = v;
        else if (field === 8) p.sentAtUnixS = String(v);
        else p.links = v > 0x7fffffff ? v - 2 ** 64 : v;
      } else if (wire === 0) varint();
      else if (wire === 2) bytes();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else return undefined;
      if (field === 0 || pos > end) return undefined;
    }
  } catch {
    return undefined;
  }
  return p;
}
