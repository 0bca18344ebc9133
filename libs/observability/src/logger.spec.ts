import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { JsonLogger } from './logger';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: new JsonLogger('collector', level, sink as never) };
}

describe('the one log format (JSON lines: time, level, service, message, fields)', () => {
  it('writes Nest-style calls and structured messages in one schema', () => {
    const { lines, log } = capture();
    log.log('Starting Nest application...', 'NestFactory');
    log.warn({ msg: 'watch failed, restarting in 1 s', kind: 'trackingdomains' });
    log.error('boom', 'Error: boom\n    at x (y.js:1:1)', 'ExceptionHandler');
    log.error(new Error('bad token'));
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      expect(Object.keys(l).slice(0, 3)).toEqual(['level', 'time', 'service']);
      expect(l['service']).toBe('collector');
      expect(new Date(l['time'] as string).toISOString()).toBe(l['time']);
      expect(typeof l['message']).toBe('string');
    }
    expect(lines[0]).toMatchObject({ level: 'info', context: 'NestFactory', message: 'Starting Nest application...' });
    expect(lines[1]).toMatchObject({ level: 'warn', kind: 'trackingdomains', message: 'watch failed, restarting in 1 s' });
    expect(lines[1]).not.toHaveProperty('msg');
    expect(lines[2]).toMatchObject({ level: 'error', context: 'ExceptionHandler', message: 'boom' });
    expect(lines[2]!['stack']).toMatch(/at x/);
    expect(lines[3]).toMatchObject({ level: 'error', message: 'bad token', error: { name: 'Error', message: 'bad token' } });
  });

  it('keeps to the configured level', () => {
    const { lines, log } = capture('warn');
    log.debug('noise');
    log.log('info');
    log.warn('kept');
    log.fatal('kept too');
    expect(lines.map((l) => [l['level'], l['message']])).toEqual([
      ['warn', 'kept'],
      ['fatal', 'kept too'],
    ]);
  });
});
