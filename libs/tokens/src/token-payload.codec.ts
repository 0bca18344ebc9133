import { writeVarint, type TokenPayload } from '@winnow/proto';

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

/** The fields of a TokenPayload as sealToken takes them: any may be left out (its default). */
export interface TokenPayloadFields {
  tenant?: string;
  campaign?: string;
  message?: string;
  kind?: number;
  linkIndex?: number;
  linkRole?: number;
  targetUrl?: string;
  sentAtUnixS?: string | bigint;
  links?: number;
  recipientDomain?: string;
}

/**
 * Encodes a TokenPayload without protobuf-es reflection (PrepareEmail seals a token per link, and
 * toBinary was about a fifth of that): the canonical bytes, field by field in number order with
 * proto3's defaults left out, byte for byte what `toBinary(TokenPayloadSchema, create(...))` gives
 * (token-payload.codec.spec.ts compares them on generated payloads). Returns undefined for a value
 * it does not write the way toBinary would (a non-integer number, a send time that is no int64):
 * the caller then uses toBinary, which says what is wrong.
 */
export function encodeTokenPayload(p: TokenPayloadFields): Buffer | undefined {
  // Checked before anything is written.
  for (const v of [p.kind, p.linkIndex, p.linkRole, p.links]) if (v !== undefined && !(Number.isInteger(v) && v >= -(2 ** 31) && v <= 2 ** 31 - 1)) return undefined;
  let sent: bigint | undefined;
  if (p.sentAtUnixS !== undefined) {
    if (typeof p.sentAtUnixS === 'string' && !/^-?\d{1,20}$/.test(p.sentAtUnixS)) return undefined;
    sent = BigInt(p.sentAtUnixS);
    if (sent !== BigInt.asIntN(64, sent)) return undefined;
  }
  // A buffer of this payload's own (no scratch kept between tokens: it would hold the last target),
  // as long as the payload can be: a tag and a length of at most 6 bytes per string, 11 per number.
  let most = 5 * 11;
  for (const t of [p.tenant, p.campaign, p.message, p.targetUrl, p.recipientDomain]) if (t) most += 6 + Buffer.byteLength(t, 'utf8');
  const w: Writer = { buf: Buffer.allocUnsafe(most), pos: 0 };
  str(w, 1, p.tenant);
  str(w, 2, p.campaign);
  str(w, 3, p.message);
  int(w, 4, p.kind);
  int(w, 5, p.linkIndex);
  int(w, 6, p.linkRole);
  str(w, 7, p.targetUrl);
  if (sent !== undefined && sent !== 0n) {
    varintOut(w, 8 * 8);
    varintOut(w, sent >= 0n && sent <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sent) : sent);
  }
  int(w, 9, p.links);
  str(w, 10, p.recipientDomain);
  return w.buf.subarray(0, w.pos);
}

/** The payload's buffer, sized to its longest encoding above (so nothing here grows it), and where writing is. */
interface Writer {
  readonly buf: Buffer;
  pos: number;
}

function varintOut(w: Writer, v: number | bigint): void {
  // Up to 2^53: the pipeline's own varint writer (libs/proto), without BigInt.
  if (typeof v === 'number' && v >= 0) {
    w.pos = writeVarint(w.buf, w.pos, v);
    return;
  }
  // Negative values are written as their 64-bit two's complement (ten bytes), as protobuf does.
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    w.buf[w.pos++] = x > 0n ? b | 0x80 : b;
  } while (x > 0n);
}

function str(w: Writer, field: number, s: string | undefined): void {
  if (!s) return;
  const n = Buffer.byteLength(s, 'utf8');
  varintOut(w, field * 8 + 2);
  varintOut(w, n);
  w.pos += w.buf.write(s, w.pos, 'utf8');
}

function int(w: Writer, field: number, v: number | undefined): void {
  if (v === undefined || v === 0) return;
  varintOut(w, field * 8);
  varintOut(w, v);
}
