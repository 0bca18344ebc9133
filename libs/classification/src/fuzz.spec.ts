import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Classifier } from './classifier';
import { TraceLineError, parseTraceLine } from './trace-format';

// Property-based fuzzing of trace lines as the offline `classify` command and the evaluation
// harness read them (JSON.parse, then parseTraceLine, then one Classifier over the whole trace).
// A fixed number of inputs per target (printed), seeded; a counterexample becomes an example test.
const RUNS = 2_000;
const SEED = 20261130;
const run = (target: string, property: fc.IProperty<any>) => {
  process.stdout.write(`fuzz ${target}: ${RUNS} inputs\n`);
  fc.assert(property as fc.IProperty<unknown>, { numRuns: RUNS, seed: SEED });
};

/** What the classify command does with one line of text: its own error, or a JSON syntax error. */
const readLine = (text: string) => {
  try {
    return { event: parseTraceLine(JSON.parse(text)) };
  } catch (err) {
    if (!(err instanceof TraceLineError || err instanceof SyntaxError)) throw err;
    expect(err.message.length).toBeGreaterThan(0);
    return { error: err };
  }
};

const iso = fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const name = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }));
/** A line as FORMAT.md describes it (optional fields present or not). */
const validLine = fc.record(
  {
    id: name,
    tenant: name,
    campaign: name,
    message: name,
    recipientDomain: fc.domain(),
    deliveredAt: iso,
    links: fc.nat({ max: 50 }),
    event: fc.record(
      {
        kind: fc.constantFrom('open', 'click'),
        link: fc.nat({ max: 50 }),
        linkRole: fc.constantFrom('content', 'honeypot', 'unsubscribe'),
        at: iso,
        method: fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'get', 'POST'),
        ip: fc.oneof(fc.ipV4(), fc.ipV6()),
        headers: fc.dictionary(fc.oneof(fc.constantFrom('user-agent', 'accept-language', 'sec-fetch-mode', 'x-moz', 'User-Agent'), fc.string({ maxLength: 20 })), fc.string({ maxLength: 200 }), { maxKeys: 5 }),
      },
      { requiredKeys: ['kind', 'at'] },
    ),
    label: fc.record({ verdict: fc.constantFrom('human', 'automated'), source: fc.string({ maxLength: 20 }) }),
  },
  { requiredKeys: ['id', 'tenant', 'message', 'event'] },
);
const TOP = ['id', 'tenant', 'campaign', 'message', 'recipientDomain', 'deliveredAt', 'links', 'event'] as const;
const EVENT = ['kind', 'link', 'linkRole', 'at', 'method', 'ip', 'headers'] as const;
/** A JSON value to put in a field's place, or undefined to remove it. */
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(undefined, null, '', -1, 0.5, 1e308, -0, 2 ** 53, '__proto__', 'constructor', '1e999', '+275760-09-13T00:00:00.001Z', '2026-13-45T99:99:99Z'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
/** A valid line with one, two or three fields replaced (top level or inside `event`), as text. */
const mutatedLine = fc
  .tuple(validLine, fc.array(fc.tuple(fc.boolean(), fc.nat(), hostile), { minLength: 1, maxLength: 3 }))
  .map(([line, edits]) => {
    const out: Record<string, unknown> = { ...line, event: { ...line.event } };
    for (const [inEvent, at, value] of edits) {
      const target = inEvent && typeof out['event'] === 'object' && out['event'] !== null ? (out['event'] as Record<string, unknown>) : out;
      const keys = target === out ? TOP : EVENT;
      target[keys[at % keys.length]!] = value;
    }
    return JSON.stringify(out);
  });

/** Classifies what was read as one trace (the command's way): it must give one verdict per event. */
const classifyAll = (events: ReturnType<typeof parseTraceLine>[]) => {
  const { verdicts } = new Classifier({ maxMessages: Number.MAX_SAFE_INTEGER }).classify(events);
  expect(verdicts).toHaveLength(events.length);
};

describe('trace lines, found by a machine', () => {
  it('reads any line of text as an event or refuses it with its own error, never anything else', () =>
    run(
      'trace-line reader (random text)',
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.json({ maxDepth: 3 }), fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1))), (text) => {
        readLine(text);
      }),
    ));

  it('accepts every valid line, keeping what it says, and classifies it', () =>
    run(
      'trace-line parser (valid lines)',
      fc.property(fc.array(validLine, { minLength: 1, maxLength: 4 }), (lines) => {
        const events = lines.map((line) => {
          const r = readLine(JSON.stringify(line));
          expect(r.error).toBeUndefined();
          const e = r.event!;
          expect(e).toMatchObject({ id: line.id, tenant: line.tenant, message: line.message, kind: line.event.kind, campaign: line.campaign ?? '', links: line.links ?? 0, link: line.event.link ?? 0 });
          expect(e.atMs).toBe(Date.parse(line.event.at));
          for (const k of Object.keys(e.headers)) expect(k).toBe(k.toLowerCase());
          return e;
        });
        classifyAll(events);
      }),
    ));

  it('reads a valid line with fields mutated as an event the classifier takes, or refuses it with a TraceLineError', () =>
    run(
      'trace-line parser (valid lines, fields mutated)',
      fc.property(fc.array(mutatedLine, { minLength: 1, maxLength: 6 }), (lines) => {
        const events = [];
        for (const text of lines) {
          const r = readLine(text);
          if (r.error) {
            expect(r.error).toBeInstanceOf(TraceLineError);
            continue;
          }
          const e = r.event!;
          expect(['open', 'click']).toContain(e.kind);
          expect(['content', 'honeypot', 'unsubscribe']).toContain(e.linkRole);
          expect(Number.isInteger(e.link) && e.link >= 0).toBe(true);
          expect(Number.isFinite(e.atMs)).toBe(true);
          for (const [k, v] of Object.entries(e.headers)) expect(typeof k === 'string' && typeof v === 'string').toBe(true);
          events.push(e);
        }
        classifyAll(events);
      }),
    ));
});
