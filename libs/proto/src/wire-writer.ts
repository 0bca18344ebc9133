import { create, toBinary } from '@bufbuild/protobuf';
import { EdgeEventSchema, type EdgeEvent } from './gen/winnow/edge/v1/edge_pb';
import { ClassifiedEventSchema, type ClassifiedEvent, type Evidence, type Verdict } from './gen/winnow/verdict/v1/verdict_pb';

/** The fields of a winnow.edge.v1.EdgeEvent, as plain data. */
export type EdgeEventFields = Omit<EdgeEvent, '$typeName' | '$unknown'> & { $unknown?: EdgeEvent['$unknown'] };

/**
 * Protobuf binary for the messages written once per event on the pipeline's path (the edge event
 * the collector spools, a stored `ClassifiedEvent`, and the batches of them the classifier sends to
 * stats), with plain Buffer
 * writes in one pass. protobuf-es's reflective `toBinary` took about 50 µs for one stored event
 * (its writer keeps a list of chunks per nested message and joins them); this takes a few. The
 * output is the canonical encoding, byte for byte what `toBinary` gives; wire-writer.spec.ts checks
 * that on generated messages of every field, so a field added to the .proto and not here fails the
 * tests. A message that carries unknown fields, or an int64 beyond the safe integers, is handed to
 * `toBinary` instead. Not re-entrant: one scratch buffer per writer.
 */
export class ProtoWriter {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private pos = 0;

  /** One EdgeEvent, as `toBinary(EdgeEventSchema, e)` would write it. */
  edgeEvent(e: EdgeEventFields): Buffer {
    const slow = () => bufferOf(toBinary(EdgeEventSchema, create(EdgeEventSchema, e)));
    if (e.$unknown?.length || !safeTime(e.atUnixMs) || !safeTime(e.deliveredAtUnixMs)) return slow();
    return this.attempt(() => this.edgeEventFields(e)) ?? slow();
  }

  /** One ClassifiedEvent, as `toBinary(ClassifiedEventSchema, e)` would write it. */
  classifiedEvent(e: ClassifiedEvent): Buffer {
    const slow = () => bufferOf(toBinary(ClassifiedEventSchema, e));
    if (!plain(e)) return slow();
    return this.attempt(() => this.classifiedEventFields(e)) ?? slow();
  }

  /** A message whose only field is `repeated ClassifiedEvent events = 1` (IngestEventsRequest). */
  classifiedEventList(events: readonly ClassifiedEvent[]): Buffer | undefined {
    if (!events.every(plain)) return undefined;
    return this.attempt(() => {
      for (const e of events) this.message(0x0a, () => this.classifiedEventFields(e));
    });
  }

  /** Writes from the start; undefined when a value is one toBinary refuses (it then says why). */
  private attempt(write: () => void): Buffer | undefined {
    this.pos = 0;
    try {
      write();
    } catch (err) {
      if (err === INVALID) return undefined;
      throw err;
    }
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private classifiedEventFields(e: ClassifiedEvent): void {
    if (e.event) this.message(0x0a, () => this.edgeEventFields(e.event!));
    if (e.verdict) this.message(0x12, () => this.verdict(e.verdict!));
    if (e.evidence) this.message(0x1a, () => this.evidence(e.evidence!));
  }

  private edgeEventFields(e: EdgeEventFields): void {
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
  }

  private verdict(v: Verdict): void {
    this.string(0x0a, v.eventId);
    this.int32(0x10, v.actor);
    this.int32(0x18, v.source);
    if (!Object.is(v.confidence, 0)) {
      // -0 is written, as protobuf-es does (it is not the default).
      this.ensure(9);
      this.buf[this.pos] = 0x21;
      this.buf.writeDoubleLE(v.confidence, this.pos + 1);
      this.pos += 9;
    }
    for (const r of v.reasons) this.stringAlways(0x2a, r);
    this.string(0x32, v.rulesetVersion);
    this.int32(0x38, v.revision);
  }

  private evidence(e: Evidence): void {
    this.string(0x0a, e.addressKey);
    this.string(0x12, e.addressPrefix);
    this.uint32(0x18, e.asn);
    this.string(0x22, e.networkOrg);
    this.string(0x2a, e.networkCategory);
    this.bool(0x30, e.appleRelay);
    this.bool(0x38, e.googleSpecialCrawler);
    this.bool(0x40, e.microsoftEop);
    for (const k in e.headers) this.mapEntry(0x4a, k, e.headers[k]!);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** A length-delimited field written by `body`: one byte reserved for the length, widened after if needed. */
  private message(tag: number, body: () => void): void {
    this.ensure(2);
    this.buf[this.pos] = tag;
    const lenAt = this.pos + 1;
    const start = lenAt + 1;
    this.pos = start;
    body();
    const n = this.pos - start;
    if (n < 0x80) {
      this.buf[lenAt] = n;
      return;
    }
    const extra = varintSize(n) - 1;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    writeVarint(this.buf, lenAt, n);
    this.pos += extra;
  }

  /** A string field; proto3 leaves the empty string out. */
  private string(tag: number, s: string): void {
    if (s.length !== 0) this.stringAlways(tag, s);
  }

  private stringAlways(tag: number, s: string): void {
    this.ensure(3 * s.length + 12);
    const buf = this.buf;
    buf[this.pos] = tag;
    if (s.length < 0x80) {
      // ASCII is copied in this loop (cheaper than a call into Buffer.write for short strings);
      // the first other character sends the string the general way.
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
    const n = Buffer.byteLength(s);
    this.pos = writeVarint(buf, this.pos + 1, n);
    this.pos += buf.write(s, this.pos);
  }

  /** A map<string, string> entry: key (1) and value (2), both always written, as protobuf-es does. */
  private mapEntry(tag: number, key: string, value: string): void {
    this.message(tag, () => {
      this.stringAlways(0x0a, key);
      this.stringAlways(0x12, value);
    });
  }

  /** An int32 or enum field; negative values take ten bytes, as in protobuf. */
  private int32(tag: number, v: number): void {
    if (v !== (v | 0)) throw INVALID;
    if (v === 0) return;
    this.ensure(11);
    this.buf[this.pos] = tag;
    this.pos = v < 0 ? writeNegative(this.buf, this.pos + 1, v) : writeVarint(this.buf, this.pos + 1, v);
  }

  private uint32(tag: number, v: number): void {
    if (v !== v >>> 0) throw INVALID;
    if (v === 0) return;
    this.ensure(6);
    this.buf[this.pos] = tag;
    this.pos = writeVarint(this.buf, this.pos + 1, v >>> 0);
  }

  private bool(tag: number, v: boolean): void {
    if (!v) return;
    this.ensure(2);
    this.buf[this.pos] = tag;
    this.buf[this.pos + 1] = 1;
    this.pos += 2;
  }

  /** An int64 field carried as a decimal string; plain() has checked it is a safe, non-negative integer. */
  private int64(tag: number, s: string): void {
    const v = Number(s);
    if (v === 0) return;
    this.ensure(9);
    this.buf[this.pos] = tag;
    this.pos = writeVarint(this.buf, this.pos + 1, v);
  }
}

/** Thrown inside the writer for a value toBinary refuses (an int32 that is not one, say). */
const INVALID = new Error('a value protobuf-es refuses');

/** No unknown fields anywhere and int64 times this writer can take; otherwise toBinary writes it. */
function plain(e: ClassifiedEvent): boolean {
  if (e.$unknown?.length || e.event?.$unknown?.length || e.verdict?.$unknown?.length || e.evidence?.$unknown?.length) return false;
  if (!e.event) return true;
  return safeTime(e.event.atUnixMs) && safeTime(e.event.deliveredAtUnixMs);
}

function safeTime(s: string): boolean {
  const v = Number(s);
  return Number.isSafeInteger(v) && v >= 0 && String(v) === s;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
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

const shared = new ProtoWriter();

/** Encodes one EdgeEvent (see ProtoWriter). */
export function encodeEdgeEvent(e: EdgeEventFields): Buffer {
  return shared.edgeEvent(e);
}

/** Encodes one ClassifiedEvent (see ProtoWriter). */
export function encodeClassifiedEvent(e: ClassifiedEvent): Buffer {
  return shared.classifiedEvent(e);
}
