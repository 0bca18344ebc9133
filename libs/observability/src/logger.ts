import { ConsoleLogger, type LogLevel } from '@nestjs/common';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Structured JSON logs, one object per line, at or above the configured level. */
export function jsonLogger(service: string, level: 'debug' | 'info' | 'warn' | 'error'): ConsoleLogger {
  const cut = { debug: 'debug', info: 'log', warn: 'warn', error: 'error' }[level] as LogLevel;
  return new ConsoleLogger(service, { json: true, logLevels: ORDER.slice(0, ORDER.indexOf(cut) + 1) });
}
