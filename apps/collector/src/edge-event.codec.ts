import type { EdgeEvent } from '@winnow/proto';

/** The fields of a winnow.edge.v1.EdgeEvent, as plain data. */
export type EdgeEventFields = Omit<EdgeEvent, '$typeName' | '$unknown'>;

// Wire types of protobuf: 0 varint, 2 length-delimited.
const key = (field: number, wire: 0 | 2) => (field << 3) | wire;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Encodes an EdgeEvent in protobuf binary with plain Buffer writes (this runs once per request on
 * the collector's hot path, where protobuf-es's reflective toBinary costs ten times as much). The
 * output is the canonical encoding, byte for byte what toBinary(EdgeEventSchema, ...) gives;
 * edge-event.codec.spec.ts checks that against the schema, field by field, so a field added to the
 * .proto and not here fails the tests. Numbers are non-negative (enums, indexes, epoch ms).
 */
export function encodeEdgeEvent(e: EdgeEventFields): Buffer {
  const strings: Array<[number, string, number]> = [];
  let size = 0;
  const str = (field: number, v: string) => {
    if (v === '') return;
    const len = Buffer.byteLength(v);
    strings.push([field, v, len]);
    size += 1 + varintSize(len) + len;
  };
  // Sizes first, in field order.
  str(1, e.id);
  str(2, e.tenant);
  str(3, e.campaign);
  str(4, e.message);
  const nums: Array<[number, number]> = [];
  const num = (field: number, v: number) => {
    if (v === 0) return;
    nums.push([field, v]);
    size += 1 + varintSize(v);
  };
  num(5, e.kind);
  num(6, e.linkIndex);
  num(7, e.linkRole);
  str(8, e.method);
  num(9, e.pathKind);
  str(10, e.ip);
  const entries: Array<[string, number, string, number, number]> = [];
  for (const k of Object.keys(e.headers)) {
    const v = e.headers[k]!;
    const kl = Buffer.byteLength(k);
    const vl = Buffer.byteLength(v);
    const inner = (kl > 0 ? 1 + varintSize(kl) + kl : 0) + (vl > 0 ? 1 + varintSize(vl) + vl : 0);
    entries.push([k, kl, v, vl, inner]);
    size += 1 + varintSize(inner) + inner;
  }
  const at = Number(e.atUnixMs);
  const delivered = Number(e.deliveredAtUnixMs);
  if (at !== 0) size += 1 + varintSize(at);
  if (delivered !== 0) size += 1 + varintSize(delivered);
  if (e.links !== 0) size += 1 + varintSize(e.links);
  const rdLen = Buffer.byteLength(e.recipientDomain);
  if (rdLen > 0) size += 1 + varintSize(rdLen) + rdLen;

  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  const putStr = (field: number, v: string, len: number) => {
    buf[pos++] = key(field, 2);
    pos = writeVarint(buf, pos, len);
    pos += buf.write(v, pos, 'utf8');
  };
  const putNum = (field: number, v: number) => {
    buf[pos++] = key(field, 0);
    pos = writeVarint(buf, pos, v);
  };
  let si = 0;
  let ni = 0;
  // Fields 1-10 interleave strings and numbers: emit both lists in field order.
  while (si < strings.length || ni < nums.length) {
    const s = strings[si];
    const n = nums[ni];
    if (s && (!n || s[0] < n[0])) {
      putStr(s[0], s[1], s[2]);
      si++;
    } else if (n) {
      putNum(n[0], n[1]);
      ni++;
    }
  }
  for (const [k, kl, v, vl, inner] of entries) {
    buf[pos++] = key(11, 2);
    pos = writeVarint(buf, pos, inner);
    if (kl > 0) putStr(1, k, kl);
    if (vl > 0) putStr(2, v, vl);
  }
  if (at !== 0) putNum(12, at);
  if (delivered !== 0) putNum(13, delivered);
  if (e.links !== 0) putNum(14, e.links);
  if (rdLen > 0) putStr(15, e.recipientDomain, rdLen);
  return buf;
}
