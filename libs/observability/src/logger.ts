import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The one log format of every Winnow service: JSON lines on standard error, each with `time` (ISO
 * 8601), `level` (debug, info, warn, error, fatal), `service`, `message`, the Nest `context` when
 * there is one, and the fields of a structured message (`{ msg, ...fields }`) at the top level.
 * Standard output is left to the one "listening" line launchers read. Written by pino.
 */
export class JsonLogger implements LoggerService {
  readonly pino: Logger;

  constructor(service: string, level: LogLevel | 'fatal' = 'info', destination: DestinationStream = pino.destination({ fd: 2, sync: true })) {
    this.pino = pino(
      {
        level,
        base: { service },
        messageKey: 'message',
        errorKey: 'error',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    );
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest calls log(message, context?) and error(message, stack?, context?). */
  private write(level: 'debug' | 'info' | 'warn' | 'error' | 'fatal', message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') fields['context'] = rest.pop();
    if (level === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n    at ')) fields['stack'] = rest.shift();
    let text: string;
    if (message instanceof Error) {
      fields['error'] = { name: message.name, message: message.message, stack: message.stack };
      text = message.message;
    } else if (message && typeof message === 'object') {
      const { msg, message: m, ...others } = message as Record<string, unknown>;
      Object.assign(fields, others);
      text = String(msg ?? m ?? '');
    } else text = String(message);
    this.pino[level](fields, text);
  }
}

/** The logger every service starts with, at the configured level. */
export function jsonLogger(service: string, level: LogLevel): JsonLogger {
  return new JsonLogger(service, level);
}
