import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_CALIBRATION, Classifier, calibrate } from '@winnow/classification';
import { winnow } from './score';
import { CONSULTED_UNITS, FieldCorpusError, evaluateField, fieldReport, fitOnTuningHalf, isConsulted, isRuleData, fitCalibration, halfOf, loadFieldCorpus, reliability, sourceUnit, type FieldLine, type LabelledLine, type Prediction } from './index';

const line = (id: string, over: Partial<FieldLine> = {}): FieldLine => ({
  id,
  tenant: 'field-t',
  campaign: 'field-t',
  message: `m-${id}`,
  links: 1,
  event: { kind: 'open', at: '2026-01-05T12:00:00Z', method: 'GET', ip: '2001:db8::1', headers: { 'user-agent': 'Thunderbird/128.0' } },
  label: { verdict: 'human', source: 'human' },
  provenance: { url: 'https://github.com/o/r/issues/1', kind: 'issue_thread', quote: 'Thunderbird/128.0', filled: ['ip'] },
  ...over,
});

function corpusDir(files: Record<string, FieldLine[] | string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-field-'));
  mkdirSync(join(dir, 'sources'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, 'sources', name), typeof body === 'string' ? body : body.map((l) => JSON.stringify(l)).join('\n'));
  return dir;
}

describe('the field corpus', () => {
  it('loads the committed corpus: every line has its provenance, ids are unique', () => {
    const lines = loadFieldCorpus();
    expect(lines.length).toBeGreaterThanOrEqual(300);
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
  });

  it('holds what the corpus must: 20 lines or more of every class, 100 of people across 10 clients or more, 60 with address and headers from the source', () => {
    const r = evaluateField();
    const classes = ['human', 'apple_mpp', 'gmail_prefetch', 'yahoo_proxy', 'security_scanner', 'link_preview', 'client_helper', 'bot'];
    for (const c of classes) expect(r.perSource[c] ?? 0, c).toBeGreaterThanOrEqual(20);
    expect(Object.keys(r.perSource).sort()).toEqual([...classes].sort());
    expect(Object.values(r.clients).reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(100);
    expect(Object.keys(r.clients).length).toBeGreaterThanOrEqual(10);
    expect(r.addressAndHeadersFromSource).toBeGreaterThanOrEqual(60);
  });

  it('reads a line whose source shows no header as one with none, and scores it', () => {
    const bare = line('bare', { event: { kind: 'open', at: '2026-01-05T12:00:00Z', method: 'GET', ip: '2001:db8::2' } as FieldLine['event'] });
    const dir = corpusDir({ 'a.jsonl': [bare, line('ua')] });
    const lines = loadFieldCorpus(dir);
    expect(lines[0]!.event.headers).toEqual({});
    expect(fieldReport(evaluateField(lines))).toContain('lines per class: human 2');
  });

  it('refuses a line without provenance, a bad label or a repeated id, naming the file and line', () => {
    expect(() => loadFieldCorpus(corpusDir({ 'a.jsonl': [line('x', { provenance: undefined as never })] }))).toThrow(/a\.jsonl:1: no provenance/);
    expect(() => loadFieldCorpus(corpusDir({ 'a.jsonl': [line('x', { label: { verdict: 'human', source: 'robot' } })] }))).toThrow(/label\.source must be one of/);
    expect(() => loadFieldCorpus(corpusDir({ 'a.jsonl': [line('x')], 'b.jsonl': [line('x')] }))).toThrow(FieldCorpusError);
    expect(() => loadFieldCorpus(corpusDir({ 'a.jsonl': '{not json' }))).toThrow(/a\.jsonl:1: not JSON/);
    // Nothing of the request from its source: no header, and the address and time both filled in.
    const described = line('d', { event: { kind: 'open', at: '2026-01-05T12:00:00Z', method: 'GET', ip: '2001:db8::3' } as FieldLine['event'] });
    described.provenance = { ...described.provenance, filled: ['ip', 'at', 'method'] };
    expect(() => loadFieldCorpus(corpusDir({ 'a.jsonl': [described] }))).toThrow(/a\.jsonl:1: the line shows nothing of the request/);
  });

  it('splits by source unit: a thread whole, a fixture file by entry, the same way every time', () => {
    const p = (url: string, kind: FieldLine['provenance']['kind']) => ({ url, kind, quote: 'q', filled: [] });
    expect(sourceUnit(p('https://github.com/o/r/issues/7#issuecomment-1', 'issue_thread'))).toBe('https://github.com/o/r/issues/7');
    expect(sourceUnit(p('https://github.com/o/r/blob/c/f.yml#L10', 'parser_fixture'))).toBe('https://github.com/o/r/blob/c/f.yml#L10');
    const halves = Array.from({ length: 64 }, (_, i) => halfOf(p(`https://example.org/${i}`, 'article')));
    expect(halves.filter((h) => h === 'tuning').length).toBeGreaterThan(16);
    expect(halves.filter((h) => h === 'held-out').length).toBeGreaterThan(16);
    expect(halfOf(p('https://example.org/1', 'article'))).toBe(halves[1]);
  });

  it("splits as the README says (SHA-256 of the unit, first byte even: tuning), and the units named in the docs fall where the docs say", () => {
    const p = (url: string) => ({ url, kind: 'issue_thread' as const, quote: 'q', filled: [] });
    for (let i = 0; i < 64; i++) {
      const url = `https://example.org/split/${i}`;
      expect(halfOf(p(url))).toBe((createHash('sha256').update(url, 'utf8').digest()[0]! & 1) === 0 ? 'tuning' : 'held-out');
    }
    // docs/classification.md: next-auth #1840 and gophish #1920 are tuning lines, mssola/user_agent #71 a held-out one.
    expect(halfOf(p('https://github.com/nextauthjs/next-auth/issues/1840'))).toBe('tuning');
    expect(halfOf(p('https://github.com/gophish/gophish/issues/1920#issuecomment-1'))).toBe('tuning');
    expect(halfOf(p('https://github.com/mssola/user_agent/issues/71'))).toBe('held-out');
  });

  it('fits the calibration on the tuning half only, and the classifier ships the fitted map', () => {
    // Lines the rules get right (a Thunderbird open is a person) in the tuning half, and the same
    // requests labelled automated (so the rules are wrong) in the held-out half.
    const lines: FieldLine[] = [];
    for (let i = 0; lines.length < 60; i++) {
      const url = `https://example.org/fit/${i}`;
      const tuning = halfOf({ url, kind: 'article', quote: 'q', filled: [] }) === 'tuning';
      lines.push(line(`f${i}`, { label: tuning ? { verdict: 'human', source: 'human' } : { verdict: 'automated', source: 'bot' }, provenance: { url, kind: 'article', quote: 'Thunderbird/128.0', filled: ['ip'] } }));
    }
    const tuningLines = lines.filter((l) => halfOf(l.provenance) === 'tuning').length;
    expect(tuningLines).toBeGreaterThan(10);
    expect(tuningLines).toBeLessThan(50);
    const fit = fitOnTuningHalf(lines);
    expect(fit.fittedOn).toContain(`${tuningLines} lines`);
    // Every verdict it saw was right: the map never lowers a confidence. Had it read the held-out
    // half (every verdict wrong), it would.
    expect(fit.knots.length).toBeGreaterThan(0);
    for (const [x, y] of fit.knots) expect(y).toBeGreaterThanOrEqual(x);
    // The same fit over both halves lowers it: the test above can tell the two apart.
    const onAll = fitCalibration(lines, winnow(lines, null), 'both halves');
    expect(onAll.knots.some(([x, y]) => y < x)).toBe(true);
    // The classifier's confidence is the shipped map applied to the rules' own.
    const event = { id: 'cal-1', tenant: 't', campaign: 'c', message: 'm', recipientDomain: '', deliveredAtMs: 0, links: 1, kind: 'open' as const, link: 0, linkRole: 'content' as const, atMs: Date.UTC(2026, 0, 5, 12), method: 'GET', ip: '2001:db8::1', headers: { 'user-agent': 'Thunderbird/128.0' } };
    const stated = new Classifier({ calibration: null }).classify([event]).verdicts[0]!.decision.confidence;
    const shipped = new Classifier().classify([{ ...event }]).verdicts[0]!.decision.confidence;
    expect(BUNDLED_CALIBRATION.knots.length).toBeGreaterThan(0);
    expect(shipped).toBe(calibrate(stated, BUNDLED_CALIBRATION));
    expect(shipped).not.toBe(stated);
  });

  it('reports every figure without the lines whose source the rules read as data', () => {
    const cua = line('d1', { provenance: { url: 'https://github.com/monperrus/crawler-user-agents/blob/c/crawler-user-agents.json#L7308', kind: 'bot_directory', quote: 'GroupMeBot/1.0', filled: ['ip'] } });
    expect(isRuleData(cua)).toBe(true);
    expect(isRuleData(line('d2'))).toBe(false);
    const r = evaluateField([cua, line('d2')]);
    const n = (subset: string) => r.slices.filter((s) => s.subset === subset).reduce((a, s) => a + s.winnow.events, 0);
    expect([n('all'), n('not-rule-data')]).toEqual([2, 1]);
  });

  it('ships the calibration a fit on the committed tuning half gives (refit after every rule or corpus change)', () => {
    expect(BUNDLED_CALIBRATION.knots).toEqual(fitOnTuningHalf().knots);
  });

  it('reports the held-out half without the units looked at while rules were made, and each of those is a held-out unit of the corpus', () => {
    const lines = loadFieldCorpus();
    const units = new Set(lines.map((l) => sourceUnit(l.provenance)));
    for (const { unit } of CONSULTED_UNITS) {
      expect(units.has(unit), unit).toBe(true);
      expect(halfOf({ url: unit, kind: 'article', quote: 'q', filled: [] }), unit).toBe('held-out');
    }
    const r = evaluateField(lines);
    const n = (subset: string) => r.slices.find((s) => s.half === 'held-out' && s.subset === subset)!.winnow.events;
    const consultedLines = lines.filter((l) => halfOf(l.provenance) === 'held-out' && isConsulted(l)).length;
    expect(consultedLines).toBeGreaterThanOrEqual(CONSULTED_UNITS.length);
    expect(n('not-consulted')).toBe(n('all') - consultedLines);
  });

  it('reports every figure for the lines whose user-agent the other half does not have', () => {
    const url = (h: 'tuning' | 'held-out', i: number) => {
      for (let k = 0; ; k++) {
        const u = `https://example.org/ua/${i}/${k}`;
        if (halfOf({ url: u, kind: 'article', quote: 'q', filled: [] }) === h) return u;
      }
    };
    const at = (id: string, h: 'tuning' | 'held-out', ua: string, i: number) =>
      line(id, { event: { kind: 'open', at: '2026-01-05T12:00:00Z', method: 'GET', ip: '2001:db8::1', headers: { 'user-agent': ua } }, provenance: { url: url(h, i), kind: 'article', quote: ua, filled: ['ip'] } });
    const r = evaluateField([at('a', 'tuning', 'Thunderbird/128.0', 1), at('b', 'held-out', 'Thunderbird/128.0', 2), at('c', 'held-out', 'Thunderbird/115.0', 3), at('d', 'tuning', 'Thunderbird/102.0', 4)]);
    const n = (h: string, subset: string) => r.slices.find((s) => s.half === h && s.subset === subset)!.winnow.events;
    expect([n('held-out', 'all'), n('held-out', 'unseen-ua'), n('tuning', 'all'), n('tuning', 'unseen-ua')]).toEqual([2, 1, 2, 1]);
    expect(fieldReport(r)).toContain('winnow unseen-ua');
  });

  it('reports both halves, complete and filled lines apart, Winnow beside isbot, per class', () => {
    const text = fieldReport(evaluateField());
    for (const s of ['-- tuning half', '-- held-out half', 'winnow complete', 'isbot filled', 'expected calibration error', 'human ', 'security_scanner']) expect(text).toContain(s);
  });
});

describe('calibration maths', () => {
  const lines = (n: number): LabelledLine[] => Array.from({ length: n }, (_, i) => line(`c${i}`));
  const preds = (confs: number[], right: boolean[]): Prediction[] => confs.map((c, i) => ({ verdict: right[i] ? 'human' : 'automated', source: 'human', confidence: c }));

  it('the expected calibration error is the events-weighted gap per 0.1 bucket', () => {
    // 10 at 0.95, 9 right; 10 at 0.65, 5 right: |0.9-0.95|/2 + |0.5-0.65|/2 = 0.1
    const conf = [...Array(10).fill(0.95), ...Array(10).fill(0.65)];
    const right = [...Array(9).fill(true), false, ...Array(5).fill(true), ...Array(5).fill(false)];
    const r = reliability(lines(20), preds(conf, right));
    expect(r.ece).toBeCloseTo(0.1, 10);
    expect(r.buckets.map((b) => b.events)).toEqual([10, 10]);
  });

  it('fits a non-decreasing map, shrunk toward the stated confidence', () => {
    // 0.65 bucket right 100%, 0.95 bucket right 50%: a violation, pooled into one level.
    const conf = [...Array(20).fill(0.65), ...Array(20).fill(0.95)];
    const right = [...Array(20).fill(true), ...Array(10).fill(true), ...Array(10).fill(false)];
    const c = fitCalibration(lines(40), preds(conf, right), 'test');
    expect(c.knots).toHaveLength(1);
    const ys = c.knots.map(([, y]) => y);
    expect(ys[0]).toBeCloseTo((20 * 1 + 20 * 0.65 + 20 * 0.5 + 20 * 0.95) / 80, 2);
  });
});
