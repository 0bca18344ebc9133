import type { EdgeEvent } from '@winnow/proto';

/** The fields of a winnow.edge.v1.EdgeEvent, as plain data. */
export type EdgeEventFields = Omit<EdgeEvent, '$typeName' | '$unknown'>;

/** Strings up to this many UTF-16 units take at most 126 UTF-8 bytes: a one-byte length. */
const SHORT_CHARS = 42;

/**
 * Encodes EdgeEvents in protobuf binary with plain Buffer writes. This runs once per request on
 * the collector's hot path, where protobuf-es's reflective toBinary costs ten times as much, so it
 * writes in a single pass into a scratch buffer it keeps (no size pass, no intermediate lists)
 * and copies the result out once. A short string's length is written after the string (its byte
 * length fits one byte); a longer one is measured first; a map entry's length is reserved in two
 * bytes and closed up when it fits in one.
 *
 * The output is the canonical encoding, byte for byte what toBinary(EdgeEventSchema, ...) gives;
 * edge-event.codec.spec.ts checks that against the schema, field by field, so a field added to the
 * .proto and not here fails the tests. Not re-entrant (one scratch buffer); the collector calls it
 * from its one thread.
 */
export class EdgeEventEncoder {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private pos = 0;

  encode(e: EdgeEventFields): Buffer {
    // The most a message can take: every string at 3 bytes per UTF-16 unit, plus tags and lengths.
    let worst = 160 + 3 * (e.id.length + e.tenant.length + e.campaign.length + e.message.length + e.method.length + e.ip.length + e.recipientDomain.length);
    for (const k in e.headers) worst += 16 + 3 * (k.length + e.headers[k]!.length);
    if (worst > this.buf.length) this.buf = Buffer.allocUnsafe(worst);
    this.pos = 0;
    this.string(0x0a, e.id);
    this.string(0x12, e.tenant);
    this.string(0x1a, e.campaign);
    this.string(0x22, e.message);
    this.int32(0x28, e.kind);
    this.int32(0x30, e.linkIndex);
    this.int32(0x38, e.linkRole);
    this.string(0x42, e.method);
    this.int32(0x48, e.pathKind);
    this.string(0x52, e.ip);
    for (const k in e.headers) this.mapEntry(0x5a, k, e.headers[k]!);
    this.int64(0x60, e.atUnixMs);
    this.int64(0x68, e.deliveredAtUnixMs);
    this.int32(0x70, e.links);
    this.string(0x7a, e.recipientDomain);
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** A string field (tag byte given); proto3 leaves the empty string out. */
  private string(tag: number, s: string): void {
    if (s.length !== 0) this.stringAlways(tag, s);
  }

  private stringAlways(tag: number, s: string): void {
    const buf = this.buf;
    buf[this.pos] = tag;
    if (s.length < 0x80) {
      // Most values are ASCII: copied in this loop, which is cheaper than a call into Buffer.write
      // for strings this short. The first non-ASCII character sends the string the general way.
      let p = this.pos + 2;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === s.length) {
        buf[this.pos + 1] = i;
        this.pos = p;
        return;
      }
    }
    if (s.length <= SHORT_CHARS) {
      const n = buf.write(s, this.pos + 2);
      buf[this.pos + 1] = n;
      this.pos += 2 + n;
    } else {
      const n = Buffer.byteLength(s);
      this.pos = writeVarint(buf, this.pos + 1, n);
      this.pos += buf.write(s, this.pos);
    }
  }

  /** A map<string, string> entry: a nested message of key (1) and value (2), both always written (as protobuf-es does). */
  private mapEntry(tag: number, key: string, value: string): void {
    const buf = this.buf;
    buf[this.pos] = tag;
    const lenAt = this.pos + 1;
    const start = lenAt + 2;
    this.pos = start;
    this.stringAlways(0x0a, key);
    this.stringAlways(0x12, value);
    const n = this.pos - start;
    if (n < 0x80) {
      buf[lenAt] = n;
      buf.copyWithin(lenAt + 1, start, this.pos);
      this.pos -= 1;
    } else if (n < 0x4000) {
      buf[lenAt] = (n & 0x7f) | 0x80;
      buf[lenAt + 1] = n >>> 7;
    } else {
      // Longer than a two-byte length: make room for the third byte.
      buf.copyWithin(start + 1, start, this.pos);
      writeVarint(buf, lenAt, n);
      this.pos += 1;
    }
  }

  /** An int32 or enum field; negative values take ten bytes, as in protobuf. */
  private int32(tag: number, v: number): void {
    if (v === 0) return;
    this.buf[this.pos] = tag;
    this.pos = v < 0 ? writeNegative(this.buf, this.pos + 1, v) : writeVarint(this.buf, this.pos + 1, v);
  }

  /** An int64 field carried as a decimal string (epoch milliseconds: non-negative, below 2^53). */
  private int64(tag: number, s: string): void {
    const v = Number(s);
    if (v === 0) return;
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`int64 field out of range: ${s}`);
    this.buf[this.pos] = tag;
    this.pos = writeVarint(this.buf, this.pos + 1, v);
  }
}

/** Writes a non-negative integer below 2^53 as a varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v > 0x7fffffff) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** A negative int32 as protobuf writes it: sign-extended to 64 bits, ten bytes. */
function writeNegative(buf: Buffer, pos: number, v: number): number {
  let lo = v >>> 0;
  let hi = 0xffffffff;
  for (let i = 0; i < 9; i++) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo & 0x7f;
  return pos;
}

const shared = new EdgeEventEncoder();

/** Encodes one EdgeEvent (see EdgeEventEncoder). */
export function encodeEdgeEvent(e: EdgeEventFields): Buffer {
  return shared.encode(e);
}
