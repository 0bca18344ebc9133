import { Source } from '@winnow/proto';
import { sourceName } from '@winnow/engagement';
import type { Classified } from './classifier';
import type { TraceEvent } from './trace-event';

/** A line of a trace (shared/traces/FORMAT.md, version 1) that cannot be read. */
export class TraceLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceLineError';
  }
}

const str = (o: Record<string, unknown>, k: string, required: boolean): string => {
  const v = o[k];
  if (v === undefined || v === null) {
    if (required) throw new TraceLineError(`"${k}" is required`);
    return '';
  }
  if (typeof v !== 'string') throw new TraceLineError(`"${k}" must be a string`);
  return v;
};

const time = (o: Record<string, unknown>, k: string, required: boolean): number => {
  const v = str(o, k, required);
  if (v === '') return 0;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new TraceLineError(`"${k}" is not an ISO 8601 time: ${JSON.stringify(v)}`);
  return ms;
};

/** Reads one parsed JSON line of a trace. */
export function parseTraceLine(raw: unknown): TraceEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TraceLineError('a line must be a JSON object');
  const o = raw as Record<string, unknown>;
  const ev = o['event'];
  if (typeof ev !== 'object' || ev === null) throw new TraceLineError('"event" is required');
  const e = ev as Record<string, unknown>;
  const kind = str(e, 'kind', true);
  if (kind !== 'open' && kind !== 'click') throw new TraceLineError(`"event.kind" must be open or click, got ${JSON.stringify(kind)}`);
  const role = str(e, 'linkRole', false) || 'content';
  if (role !== 'content' && role !== 'honeypot' && role !== 'unsubscribe') throw new TraceLineError(`"event.linkRole" must be content, honeypot or unsubscribe`);
  const headersRaw = e['headers'] ?? {};
  if (typeof headersRaw !== 'object' || headersRaw === null) throw new TraceLineError('"event.headers" must be an object');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(headersRaw)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
  const link = e['link'] ?? 0;
  if (typeof link !== 'number' || !Number.isInteger(link) || link < 0) throw new TraceLineError('"event.link" must be a whole number');
  const links = o['links'] ?? 0;
  if (typeof links !== 'number') throw new TraceLineError('"links" must be a number');
  return {
    id: str(o, 'id', true),
    tenant: str(o, 'tenant', true),
    campaign: str(o, 'campaign', false),
    message: str(o, 'message', true),
    recipientDomain: str(o, 'recipientDomain', false),
    deliveredAtMs: time(o, 'deliveredAt', false),
    links,
    kind,
    link,
    linkRole: role,
    atMs: time(e, 'at', true),
    method: (str(e, 'method', false) || 'GET').toUpperCase(),
    ip: str(e, 'ip', false),
    headers,
  };
}

/** The output line for a classified event, as FORMAT.md describes. */
export function verdictLine(c: Classified): Record<string, unknown> {
  return {
    id: c.event.id,
    verdict: c.decision.source === Source.HUMAN ? 'human' : 'automated',
    source: sourceName(c.decision.source),
    confidence: c.decision.confidence,
    reasons: c.decision.reasons,
  };
}
