import { TextDecoder } from 'node:util';
import type { EdgeEvent } from './gen/winnow/edge/v1/edge_pb';
import type { IngestRequest } from './gen/winnow/classifier/v1/classifier_service_pb';
import type { IngestEventsRequest } from './gen/winnow/stats/v1/stats_service_pb';
import type { ClassifiedEvent, Evidence, Verdict } from './gen/winnow/verdict/v1/verdict_pb';

/**
 * Reads the two batch messages of the pipeline (the collector's `IngestRequest` at the classifier,
 * the classifier's `IngestEventsRequest` at stats) in one pass, giving exactly the messages
 * protobuf-es's `fromBinary` gives (wire-reader.spec.ts compares them on generated messages and on
 * damaged bytes). It reads only the canonical shape our own writers produce: any field it does not
 * know, a wire type it does not expect, a message field given twice (which protobuf merges), a
 * varint past 2^49, invalid UTF-8 or a truncated buffer makes it answer `undefined`, and the
 * caller decodes with `fromBinary`, which keeps unknown fields and words the errors. So it is never
 * stricter or looser than protobuf-es, only faster where the bytes are ordinary.
 */
class Reader {
  pos = 0;
  /** Where the message being read ends: the whole buffer, or a nested message's end (see enter). */
  end: number;
  private readonly buf: Buffer;

  constructor(
    bytes: Uint8Array,
    private readonly decoder: TextDecoder,
  ) {
    // A Buffer over the same memory (no copy), for its Latin-1 reads.
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = this.buf.length;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint below 2^49 (7 bytes), or throws Bail. */
  varint(): number {
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw BAIL;
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw BAIL;
  }

  /** An int32 or enum: the low 32 bits of the varint, signed; negative values take ten bytes. */
  int32(): number {
    const start = this.pos;
    const buf = this.buf;
    let i = 0;
    const end = this.end;
    while (i < 10 && start + i < end && buf[start + i]! >= 0x80) i++;
    if (i >= 10 || start + i >= end) throw BAIL;
    if (i < 5) return this.varint() | 0;
    // Five to ten bytes: only the low 32 bits count (a negative int32 is sign-extended).
    let lo = 0;
    for (let k = 0; k < 5; k++) lo |= (buf[start + k]! & 0x7f) << (7 * k);
    this.pos = start + i + 1;
    return lo | 0;
  }

  /**
   * A field's tag. Every field here has a number below 16, so its tag is one byte; a longer tag (a
   * field we do not know, or a small one written long) is left to fromBinary, which refuses tags
   * past five bytes.
   */
  tag(): number {
    if (this.pos >= this.end) throw BAIL;
    const b = this.buf[this.pos++]!;
    if (b >= 0x80) throw BAIL;
    return b;
  }

  /** A length: at most five bytes, as protobuf reads it. */
  length(): number {
    const start = this.pos;
    const n = this.varint();
    if (this.pos - start > 5) throw BAIL;
    if (this.pos + n > this.end) throw BAIL;
    return n;
  }

  string(): string {
    const n = this.length();
    const start = this.pos;
    const end = start + n;
    const buf = this.buf;
    this.pos = end;
    // Most strings are ASCII (ids, names, user-agents): read as Latin-1, which is the same for them,
    // without a view and a strict decode each. Anything else goes through the strict decoder.
    for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return this.decoder.decode(buf.subarray(start, end));
    return n === 0 ? '' : buf.toString('latin1', start, end);
  }

  double(): number {
    if (this.pos + 8 > this.end) throw BAIL;
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /**
   * Enters a nested message: until leave(), reading stops at its end. Returns the end of the
   * message it is nested in, for leave(). (One reader for the whole batch: no reader and no view
   * of the buffer per nested message.)
   */
  enter(): number {
    const n = this.length();
    const outer = this.end;
    this.end = this.pos + n;
    return outer;
  }

  /** Leaves a nested message read to its end (see enter). */
  leave(outer: number): void {
    this.end = outer;
  }

  mapEntry(into: Record<string, string>): void {
    const outer = this.enter();
    let key = '';
    let value = '';
    while (!this.done) {
      const tag = this.tag();
      if (tag === 0x0a) key = this.string();
      else if (tag === 0x12) value = this.string();
      else throw BAIL;
    }
    this.leave(outer);
    if (key === '__proto__') throw BAIL;
    into[key] = value;
  }
}

const BAIL = new Error('not the canonical shape: fromBinary decodes it');

function edgeEvent(r: Reader): EdgeEvent {
  const e: EdgeEvent = {
    $typeName: 'winnow.edge.v1.EdgeEvent',
    id: '', tenant: '', campaign: '', message: '', kind: 0, linkIndex: 0, linkRole: 0, method: '', pathKind: 0,
    ip: '', headers: {}, atUnixMs: '0', deliveredAtUnixMs: '0', links: 0, recipientDomain: '',
  };
  while (!r.done) {
    switch (r.tag()) {
      case 0x0a: e.id = r.string(); break;
      case 0x12: e.tenant = r.string(); break;
      case 0x1a: e.campaign = r.string(); break;
      case 0x22: e.message = r.string(); break;
      case 0x28: e.kind = r.int32(); break;
      case 0x30: e.linkIndex = r.int32(); break;
      case 0x38: e.linkRole = r.int32(); break;
      case 0x42: e.method = r.string(); break;
      case 0x48: e.pathKind = r.int32(); break;
      case 0x52: e.ip = r.string(); break;
      case 0x5a: r.mapEntry(e.headers); break;
      case 0x60: e.atUnixMs = String(r.varint()); break;
      case 0x68: e.deliveredAtUnixMs = String(r.varint()); break;
      case 0x70: e.links = r.int32(); break;
      case 0x7a: e.recipientDomain = r.string(); break;
      default: throw BAIL;
    }
  }
  return e;
}

function verdict(r: Reader): Verdict {
  const v: Verdict = { $typeName: 'winnow.verdict.v1.Verdict', eventId: '', actor: 0, source: 0, confidence: 0, reasons: [], rulesetVersion: '', revision: 0 };
  while (!r.done) {
    switch (r.tag()) {
      case 0x0a: v.eventId = r.string(); break;
      case 0x10: v.actor = r.int32(); break;
      case 0x18: v.source = r.int32(); break;
      case 0x21: v.confidence = r.double(); break;
      case 0x2a: v.reasons.push(r.string()); break;
      case 0x32: v.rulesetVersion = r.string(); break;
      case 0x38: v.revision = r.int32(); break;
      default: throw BAIL;
    }
  }
  return v;
}

function evidence(r: Reader): Evidence {
  const e: Evidence = {
    $typeName: 'winnow.verdict.v1.Evidence',
    addressKey: '', addressPrefix: '', asn: 0, networkOrg: '', networkCategory: '', appleRelay: false, googleSpecialCrawler: false, microsoftEop: false, headers: {},
  };
  while (!r.done) {
    switch (r.tag()) {
      case 0x0a: e.addressKey = r.string(); break;
      case 0x12: e.addressPrefix = r.string(); break;
      case 0x18: e.asn = r.int32() >>> 0; break;
      case 0x22: e.networkOrg = r.string(); break;
      case 0x2a: e.networkCategory = r.string(); break;
      case 0x30: e.appleRelay = r.varint() !== 0; break;
      case 0x38: e.googleSpecialCrawler = r.varint() !== 0; break;
      case 0x40: e.microsoftEop = r.varint() !== 0; break;
      case 0x4a: r.mapEntry(e.headers); break;
      default: throw BAIL;
    }
  }
  return e;
}

/** A nested message, read to its end. */
function nested<T>(r: Reader, read: (r: Reader) => T): T {
  const outer = r.enter();
  const value = read(r);
  r.leave(outer);
  return value;
}

function classifiedEvent(r: Reader): ClassifiedEvent {
  const c = { $typeName: 'winnow.verdict.v1.ClassifiedEvent' } as ClassifiedEvent;
  while (!r.done) {
    const tag = r.tag();
    if (tag === 0x0a && !c.event) c.event = nested(r, edgeEvent);
    else if (tag === 0x12 && !c.verdict) c.verdict = nested(r, verdict);
    else if (tag === 0x1a && !c.evidence) c.evidence = nested(r, evidence);
    else throw BAIL;
  }
  return c;
}

function list<T>(bytes: Uint8Array, decoder: TextDecoder, item: (r: Reader) => T): T[] | undefined {
  const r = new Reader(bytes, decoder);
  const out: T[] = [];
  try {
    while (!r.done) {
      if (r.tag() !== 0x0a) return undefined;
      out.push(nested(r, item));
    }
  } catch {
    // BAIL, or the strict decoder's TypeError on invalid UTF-8: fromBinary says what is wrong.
    return undefined;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `IngestRequest` (repeated EdgeEvent events = 1) as fromBinary gives it, or undefined (see Reader). */
export function readIngestRequest(bytes: Uint8Array): IngestRequest | undefined {
  const events = list(bytes, strictUtf8, edgeEvent);
  return events && { $typeName: 'winnow.classifier.v1.IngestRequest', events };
}

/** `IngestEventsRequest` (repeated ClassifiedEvent events = 1) as fromBinary gives it, or undefined. */
export function readIngestEventsRequest(bytes: Uint8Array): IngestEventsRequest | undefined {
  const events = list(bytes, strictUtf8, classifiedEvent);
  return events && { $typeName: 'winnow.stats.v1.IngestEventsRequest', events };
}
