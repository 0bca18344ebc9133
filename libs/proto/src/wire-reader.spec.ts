import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClassifiedEventSchema, EdgeEventSchema, IngestEventsRequestSchema, IngestRequestSchema, readIngestEventsRequest, readIngestRequest } from './index';

// Differential fuzzing against protobuf-es's fromBinary: a fixed number of seeded inputs (printed).
const RUNS = 1_000;
const SEED = 20261130;
const text = fc.string({ unit: 'binary', maxLength: 60 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), text, { maxKeys: 4 });
const time = fc.oneof(fc.constant('0'), fc.bigInt({ min: 0n, max: 2n ** 48n }).map(String), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String));
const event = fc.record({
  id: text, tenant: text, campaign: text, message: text, kind: int32, linkIndex: int32, linkRole: int32, method: text,
  pathKind: int32, ip: text, headers, atUnixMs: time, deliveredAtUnixMs: time, links: int32, recipientDomain: text,
});
const verdict = fc.record({
  eventId: text, actor: int32, source: int32, confidence: fc.double(), reasons: fc.array(text, { maxLength: 4 }), rulesetVersion: text, revision: int32,
});
const evidence = fc.record({
  addressKey: text, addressPrefix: text, asn: fc.integer({ min: 0, max: 2 ** 32 - 1 }), networkOrg: text, networkCategory: text,
  appleRelay: fc.boolean(), googleSpecialCrawler: fc.boolean(), microsoftEop: fc.boolean(), headers,
});
const classified = fc.record({ event, verdict, evidence }, { requiredKeys: [] });
const edgeBatch = fc.array(event, { maxLength: 6 }).map((events) => Buffer.from(toBinary(IngestRequestSchema, create(IngestRequestSchema, { events }))));
const storedBatch = fc.array(classified, { maxLength: 6 }).map((events) => Buffer.from(toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: events as never }))));

/** Either the fast reader declines, or it gives what fromBinary gives; it never answers where fromBinary throws. */
function agrees<T>(fast: (b: Uint8Array) => T | undefined, slow: (b: Uint8Array) => T, bytes: Uint8Array): void {
  let expected: T | Error;
  try {
    expected = slow(bytes);
  } catch (err) {
    expected = err as Error;
  }
  const got = fast(bytes);
  if (expected instanceof Error) expect(got).toBeUndefined();
  else if (got !== undefined) expect(got).toStrictEqual(expected);
}

/** Damages a message: flips, cuts or inserts bytes. */
const damaged = (batch: fc.Arbitrary<Buffer>) =>
  fc.tuple(batch, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'insert')), { minLength: 1, maxLength: 4 })).map(([b, edits]) => {
    let out = Buffer.from(b);
    for (const [at, byte, how] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (how === 'flip' && out.length > 0) out[i] = byte;
      else if (how === 'cut') out = out.subarray(0, i);
      else out = Buffer.concat([out.subarray(0, i), Buffer.from([byte]), out.subarray(i)]);
    }
    return out;
  });

describe("the pipeline's protobuf reader", () => {
  it('reads any batch of edge events as fromBinary does, and every ordinary one itself', () => {
    process.stdout.write(`fuzz ingest-request reader (differential, against protobuf-es): ${RUNS} inputs\n`);
    fc.assert(
      fc.property(edgeBatch, (bytes) => {
        agrees(readIngestRequest, (b) => fromBinary(IngestRequestSchema, b), bytes);
        // Times within 2^49 are the ordinary case: those the reader must take itself.
        const all = fromBinary(IngestRequestSchema, bytes).events.every((e) => Number(e.atUnixMs) >= 0 && Number(e.atUnixMs) < 2 ** 49 && Number(e.deliveredAtUnixMs) >= 0 && Number(e.deliveredAtUnixMs) < 2 ** 49);
        if (all) expect(readIngestRequest(bytes)).toBeDefined();
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('reads any batch of classified events as fromBinary does', () => {
    process.stdout.write(`fuzz ingest-events-request reader (differential, against protobuf-es): ${RUNS} inputs\n`);
    fc.assert(
      fc.property(storedBatch, (bytes) => {
        agrees(readIngestEventsRequest, (b) => fromBinary(IngestEventsRequestSchema, b), bytes);
        const ordinary = (t: string) => Number(t) >= 0 && Number(t) < 2 ** 49;
        const all = fromBinary(IngestEventsRequestSchema, bytes).events.every((e) => !e.event || (ordinary(e.event.atUnixMs) && ordinary(e.event.deliveredAtUnixMs)));
        if (all) expect(readIngestEventsRequest(bytes)).toBeDefined();
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('declines damaged bytes wherever fromBinary refuses them, and agrees where it takes them', () => {
    process.stdout.write(`fuzz pipeline readers on damaged bytes (differential, against protobuf-es): ${2 * RUNS} inputs\n`);
    fc.assert(fc.property(damaged(edgeBatch), (bytes) => agrees(readIngestRequest, (b) => fromBinary(IngestRequestSchema, b), bytes)), { numRuns: RUNS, seed: SEED });
    fc.assert(fc.property(damaged(storedBatch), (bytes) => agrees(readIngestEventsRequest, (b) => fromBinary(IngestEventsRequestSchema, b), bytes)), { numRuns: RUNS, seed: SEED });
  });

  it('leaves unknown fields, a message given twice and invalid UTF-8 to fromBinary', () => {
    const one = Buffer.from(toBinary(EdgeEventSchema, create(EdgeEventSchema, { id: 'e1', atUnixMs: '1764530000123' })));
    const entry = (body: Buffer) => Buffer.concat([Buffer.from([0x0a, body.length]), body]);
    expect(readIngestRequest(entry(one))?.events[0]?.id).toBe('e1');
    expect(readIngestRequest(entry(Buffer.concat([one, Buffer.from([0xa0, 0x06, 0x07])])))).toBeUndefined(); // field 100
    expect(readIngestRequest(entry(Buffer.from([0x0a, 0x02, 0xc3, 0x28])))).toBeUndefined(); // id: not UTF-8
    const stored = Buffer.from(toBinary(ClassifiedEventSchema, create(ClassifiedEventSchema, { event: { id: 'e1' } })));
    expect(readIngestEventsRequest(entry(Buffer.concat([stored, stored])))).toBeUndefined(); // event twice: protobuf merges
    expect(readIngestEventsRequest(entry(stored))?.events[0]?.event?.id).toBe('e1');
  });

  it('reads a plain Uint8Array view at an offset (as gRPC may hand it) as it reads a Buffer, ASCII and not', () => {
    const events = [
      { event: { id: 'e1', tenant: 'clinic', headers: { 'user-agent': 'Mozilla/5.0' } }, evidence: { addressKey: 'k', headers: { 'accept-language': 'de-DE' } } },
      { event: { id: 'é2', tenant: 'клиника', message: '予約' }, verdict: { reasons: ['naïve', ''] } },
    ];
    const bytes = toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: events as never }));
    const backing = new Uint8Array(bytes.length + 7);
    backing.set(bytes, 3);
    const view = new Uint8Array(backing.buffer, 3, bytes.length);
    expect(Buffer.isBuffer(view)).toBe(false);
    const read = readIngestEventsRequest(view);
    expect(read).toBeDefined();
    expect(read).toEqual(fromBinary(IngestEventsRequestSchema, bytes));
    expect(read!.events[1]!.event!.tenant).toBe('клиника');
  });

  it('agrees with fromBinary on the odd shapes a review found or feared', () => {
    const check = (bytes: number[]) => agrees(readIngestRequest, (b) => fromBinary(IngestRequestSchema, b), Uint8Array.from(bytes));
    // A tag written in six bytes (protobuf-es refuses tags past five), at the top and inside an event.
    check([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]);
    check([0x0a, 0x08, 0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x78]);
    expect(readIngestRequest(Uint8Array.from([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]))).toBeUndefined();
    // A tag for field 1 written long but within five bytes: protobuf-es takes it; the reader leaves it to it.
    check([0x8a, 0x80, 0x00, 0x00]);
    // A length in six bytes.
    check([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    // A nested length that overruns its parent but not the buffer.
    check([0x0a, 0x03, 0x0a, 0x05, 0x61, 0x0a, 0x01, 0x62, 0x63]);
    // Map entries: a key given twice (the last wins), an entry with no key, and __proto__.
    const header = (k: string, v: string) => [0x5a, 4 + k.length + v.length, 0x0a, k.length, ...Buffer.from(k), 0x12, v.length, ...Buffer.from(v)];
    const ev = (...fields: number[][]) => { const body = fields.flat(); return [0x0a, body.length, ...body]; };
    check(ev(header('a', '1'), header('a', '2')));
    expect(readIngestRequest(Uint8Array.from(ev(header('a', '1'), header('a', '2'))))?.events[0]?.headers).toEqual({ a: '2' });
    check(ev([0x5a, 0x03, 0x12, 0x01, 0x78]));
    check(ev(header('__proto__', 'x')));
    expect(Object.getPrototypeOf(fromBinary(IngestRequestSchema, Uint8Array.from(ev(header('__proto__', 'x')))).events[0]!.headers)).toBe(Object.prototype);
  });
});
