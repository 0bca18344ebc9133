import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ClassifiedEventSchema, EventKind, LinkRole } from '@winnow/proto';
import { TraceLineError, parseTraceLine } from '@winnow/classification';
import type { StatsConfig } from '@winnow/config';
import { LmdbEventStore } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { removeDir } from '../support/stack';

// Property-based fuzzing of what callers hand the services: trace lines (the classify command) and
// the stats service's ingest validation, on the real embedded store. Fixed input counts, printed.
const SEED = 20261130;

describe('hostile input to the classify command and to ingest, found by a machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-fuzz-ingest-'));
  const store = new LmdbEventStore(dir);
  afterAll(async () => {
    await store.close();
    removeDir(dir);
  });

  it('reads any JSON value as a trace line or refuses it with a TraceLineError', () => {
    const runs = 3_000;
    process.stdout.write(`fuzz trace-line parser: ${runs} inputs\n`);
    const line = fc.record({ id: fc.string(), tenant: fc.string(), message: fc.string(), links: fc.oneof(fc.integer(), fc.string()), deliveredAt: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), event: fc.record({ kind: fc.constantFrom('open', 'click', 'x'), at: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), ip: fc.string(), link: fc.oneof(fc.integer(), fc.constant(null)), headers: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.constant(null)) }, { requiredKeys: [] }) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), line), (v) => {
        try {
          parseTraceLine(v);
        } catch (err) {
          expect(err).toBeInstanceOf(TraceLineError);
        }
      }),
      { numRuns: runs, seed: SEED },
    );
  });

  it('stores or keeps aside every event of any batch, and never throws on its content', async () => {
    const runs = 150;
    process.stdout.write(`fuzz ingest validation (stats, LMDB): ${runs} batches of up to 12 events\n`);
    const ingestor = new Ingestor(store, { addressKey: 'fuzz-address-key-0123456789abcdef0123' } as StatsConfig, new Registry());
    const name = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ minLength: 250, maxLength: 400 }), fc.constant(''));
    const event = fc.record({
      id: name,
      tenant: fc.constantFrom('t1', 't2', ''),
      campaign: name,
      message: name,
      kind: fc.constantFrom(EventKind.UNSPECIFIED, EventKind.OPEN, EventKind.CLICK),
      linkIndex: fc.integer({ min: -5, max: 40 }),
      linkRole: fc.constantFrom(LinkRole.CONTENT, LinkRole.HONEYPOT, LinkRole.UNSUBSCRIBE),
      method: fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'BREW', ''),
      atUnixMs: fc.integer({ min: 0, max: 2 ** 42 }).map(String),
      headers: fc.dictionary(fc.oneof(fc.constantFrom('user-agent', 'x-moz'), fc.string({ maxLength: 12 })), fc.string({ maxLength: 3000 }), { maxKeys: 3 }),
    });
    const evidence = fc.record({
      addressKey: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 32 }),
      asn: fc.nat({ max: 2 ** 32 - 1 }),
      networkCategory: fc.constantFrom('', 'cloud', 'microsoft', 'nonsense'),
      headers: fc.dictionary(fc.constantFrom('user-agent', 'accept-language', 'sec-fetch-user', 'x-moz', 'Bad Name'), fc.string({ maxLength: 3000 }), { maxKeys: 3 }),
    });
    const batch = fc.array(fc.tuple(event, fc.option(evidence, { nil: undefined })), { minLength: 1, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(batch, async (items) => {
        const events = items.map(([e, ev]) => create(ClassifiedEventSchema, { event: e, evidence: ev }));
        const r = await ingestor.ingest(events);
        // Each is stored, a duplicate (an id seen before), or a dead letter with a reason.
        expect(r.stored + r.duplicates + r.deadLettered).toBe(events.length);
      }),
      { numRuns: runs, seed: SEED },
    );
    const { deadLetters } = await store.listDeadLetters('', 1000, '');
    expect(deadLetters.length).toBeGreaterThan(0);
    expect(deadLetters.every((l) => l.reason.length > 0 && l.failure === 'invalid')).toBe(true);
  }, 120_000);
});
