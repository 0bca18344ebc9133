import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClassifiedEventSchema, EdgeEventSchema, IngestEventsRequestSchema, ProtoWriter, VerdictSchema, encodeClassifiedEvent, encodeEdgeEvent, type ClassifiedEvent } from './index';

// Differential fuzzing against protobuf-es: a fixed number of seeded inputs (printed).
const RUNS = 2_000;
const SEED = 20261130;
const text = fc.string({ unit: 'binary', maxLength: 160 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), text, { maxKeys: 6 });
// Ordinary epoch times, and what the writer hands to toBinary: negative, past 2^53, zero-padded.
const time = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.constant('0'), fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }).map(String)) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 40n }).map((v) => `0${v}`) },
);
const event = fc.record({
  id: text, tenant: text, campaign: text, message: text, kind: int32, linkIndex: int32, linkRole: int32, method: text,
  pathKind: int32, ip: text, headers, atUnixMs: time, deliveredAtUnixMs: time, links: int32, recipientDomain: text,
});
const verdict = fc.record({
  eventId: text, actor: int32, source: int32, confidence: fc.double(), reasons: fc.array(text, { maxLength: 5 }),
  rulesetVersion: text, revision: int32,
});
const evidence = fc.record({
  addressKey: text, addressPrefix: text, asn: fc.integer({ min: 0, max: 2 ** 32 - 1 }), networkOrg: text, networkCategory: text,
  appleRelay: fc.boolean(), googleSpecialCrawler: fc.boolean(), microsoftEop: fc.boolean(), headers,
});
const classified = fc
  .record({ event, verdict, evidence }, { requiredKeys: [] })
  .map((init) => create(ClassifiedEventSchema, init as never));

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('the pipeline\'s protobuf writer', () => {
  it('writes any ClassifiedEvent byte for byte as protobuf-es does', () => {
    process.stdout.write(`fuzz classified-event writer (differential, against protobuf-es): ${RUNS} inputs\n`);
    fc.assert(
      fc.property(classified, (e) => {
        expect(same(encodeClassifiedEvent(e), toBinary(ClassifiedEventSchema, e))).toBe(true);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('writes any EdgeEvent alone byte for byte as protobuf-es does', () => {
    const w = new ProtoWriter();
    fc.assert(
      fc.property(event, (init) => {
        const e = create(EdgeEventSchema, init);
        expect(same(w.edgeEvent(e), toBinary(EdgeEventSchema, e))).toBe(true);
      }),
      { numRuns: 1_000, seed: SEED },
    );
  });

  it('writes a list of them as the IngestEventsRequest protobuf-es writes', () => {
    const w = new ProtoWriter();
    fc.assert(
      fc.property(fc.array(classified, { maxLength: 8 }), (events) => {
        const fast = w.classifiedEventList(events);
        // Declined only for times it leaves to toBinary (the caller then uses toBinary).
        const ordinary = (t: string) => /^(0|[1-9][0-9]*)$/.test(t) && Number.isSafeInteger(Number(t));
        if (fast) expect(same(fast, toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events })))).toBe(true);
        else expect(events.some((e) => e.event && !(ordinary(e.event.atUnixMs) && ordinary(e.event.deliveredAtUnixMs)))).toBe(true);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('leaves to protobuf-es what it does not write itself: unknown fields, times past the safe integers', () => {
    const base = create(ClassifiedEventSchema, { event: { id: 'e1', atUnixMs: '1764530000123' } });
    const bytes = Buffer.concat([Buffer.from(toBinary(ClassifiedEventSchema, base)), Buffer.from([0xa0, 0x06, 0x07])]); // field 100, varint 7
    const withUnknown: ClassifiedEvent = fromBinary(ClassifiedEventSchema, bytes);
    expect(withUnknown.$unknown?.length).toBe(1);
    expect(same(encodeClassifiedEvent(withUnknown), toBinary(ClassifiedEventSchema, withUnknown))).toBe(true);
    const far = create(ClassifiedEventSchema, { event: { id: 'e2', atUnixMs: '9223372036854775807' } });
    expect(same(encodeClassifiedEvent(far), toBinary(ClassifiedEventSchema, far))).toBe(true);
    expect(new ProtoWriter().classifiedEventList([withUnknown])).toBeUndefined();
  });

  it('leaves values protobuf-es refuses to it, so the same error is thrown', () => {
    for (const verdict of [{ actor: 1.5 }, { revision: 2 ** 31 }, { source: Number.NaN }]) {
      const e = create(ClassifiedEventSchema, { event: { id: 'e1' } });
      e.verdict = create(VerdictSchema, verdict as never);
      expect(() => toBinary(ClassifiedEventSchema, e)).toThrow();
      expect(() => encodeClassifiedEvent(e)).toThrow();
      expect(new ProtoWriter().classifiedEventList([e])).toBeUndefined();
    }
    const asn = create(ClassifiedEventSchema, { evidence: { asn: 2 ** 32 } as never });
    expect(() => encodeClassifiedEvent(asn)).toThrow();
    const negativeTime = { ...create(ClassifiedEventSchema, { event: { id: 'e2' } }).event!, atUnixMs: '-1' };
    expect(Buffer.from(encodeEdgeEvent(negativeTime)).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, negativeTime))))).toBe(true);
    const padded = { ...negativeTime, atUnixMs: '01' };
    expect(Buffer.from(encodeEdgeEvent(padded)).equals(Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, padded))))).toBe(true);
  });

  it('grows past its scratch buffer and widens a length past one byte', () => {
    const big = create(ClassifiedEventSchema, { event: { id: 'x'.repeat(40_000), headers: { 'user-agent': 'é'.repeat(30_000) } }, verdict: { reasons: ['r'.repeat(200)] } });
    expect(same(encodeClassifiedEvent(big), toBinary(ClassifiedEventSchema, big))).toBe(true);
  });
});
