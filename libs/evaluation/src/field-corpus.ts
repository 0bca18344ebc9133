import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_SOURCES, sourceName } from '@winnow/engagement';
import type { LabelledLine } from './labelled-traces';

/** Where a field line came from (test/fixtures/field/README.md). */
export interface Provenance {
  url: string;
  kind: 'issue_thread' | 'vendor_page' | 'parser_fixture' | 'bot_directory' | 'article';
  quote: string;
  label?: string;
  client?: string;
  filled: string[];
}

export interface FieldLine extends LabelledLine {
  provenance: Provenance;
}

export type Half = 'tuning' | 'held-out';

/** The corpus's own folder in the repository. */
export const FIELD_DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'field');

const KINDS = new Set<Provenance['kind']>(['issue_thread', 'vendor_page', 'parser_fixture', 'bot_directory', 'article']);
/** The trace format's source names, as the classifier writes them. */
export const SOURCES: readonly string[] = ALL_SOURCES.map(sourceName);

/** Fields whose fill-in still leaves a line "complete" (README: address, time, method, kind and headers from the source). */
const BOOKKEEPING_FILLS = new Set(['deliveredAt', 'links', 'link']);

/** The unit the split is made on: the URL without its fragment, except fixture and directory entries. */
export function sourceUnit(p: Provenance): string {
  if (p.kind === 'parser_fixture' || p.kind === 'bot_directory') return p.url;
  const hash = p.url.indexOf('#');
  return hash === -1 ? p.url : p.url.slice(0, hash);
}

/** README rule: SHA-256 of the unit, first byte even = tuning, odd = held-out. */
export function halfOf(p: Provenance): Half {
  return (createHash('sha256').update(sourceUnit(p), 'utf8').digest()[0]! & 1) === 0 ? 'tuning' : 'held-out';
}

export const isComplete = (l: FieldLine) => l.provenance.filled.every((f) => BOOKKEEPING_FILLS.has(f));

export class FieldCorpusError extends Error {
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`);
    this.name = 'FieldCorpusError';
  }
}

function check(file: string, n: number, o: FieldLine): void {
  const fail = (why: string) => {
    throw new FieldCorpusError(file, n, why);
  };
  const p = o.provenance;
  if (!p || typeof p !== 'object') fail('no provenance');
  if (typeof p.url !== 'string' || !/^https?:\/\//.test(p.url)) fail('provenance.url must be an http(s) URL');
  if (!KINDS.has(p.kind)) fail(`provenance.kind must be one of ${[...KINDS].join(', ')}`);
  if (typeof p.quote !== 'string' || p.quote.trim() === '') fail('provenance.quote is required');
  if (!Array.isArray(p.filled)) fail('provenance.filled must be a list');
  if (!o.label || !SOURCES.includes(o.label.source)) fail(`label.source must be one of ${SOURCES.join(', ')}`);
  if ((o.label.source === 'human') !== (o.label.verdict === 'human')) fail('label.verdict and label.source disagree');
  const headers = o.event?.headers ?? {};
  if (Object.keys(headers).length === 0 && p.filled.includes('ip') && p.filled.includes('at')) {
    fail('the line shows nothing of the request from its source (no header, address or time): a description of a behaviour gives no line');
  }
}

/** Every line of every sources/*.jsonl file, checked; ids must be unique across files. */
export function loadFieldCorpus(dir = FIELD_DIR): FieldLine[] {
  const out: FieldLine[] = [];
  const ids = new Map<string, string>();
  const files = readdirSync(join(dir, 'sources')).filter((f) => f.endsWith('.jsonl')).sort();
  for (const f of files) {
    const text = readFileSync(join(dir, 'sources', f), 'utf8');
    text.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return;
      let o: FieldLine;
      try {
        o = JSON.parse(raw) as FieldLine;
      } catch (err) {
        throw new FieldCorpusError(f, i + 1, `not JSON: ${(err as Error).message}`);
      }
      check(f, i + 1, o);
      // A source that shows no header at all gives a line without `headers`: none were seen.
      o.event.headers ??= {};
      const seen = ids.get(o.id);
      if (seen) throw new FieldCorpusError(f, i + 1, `id ${o.id} is used in ${seen} already`);
      ids.set(o.id, `${f}:${i + 1}`);
      out.push(o);
    });
  }
  return out;
}
