import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, WinnowError } from './errors';
import type { CallContext } from './server';

/** Metadata that carries a key: `authorization: Bearer <key>`. */
export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** A `before` hook that admits only callers presenting the service key (compared in constant time). */
export function requireServiceKey(serviceKey: string): (ctx: CallContext) => void {
  const expected = digest(serviceKey);
  return (ctx) => {
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.header('authorization') ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw new WinnowError(ErrorCode.Unauthenticated, 'this service accepts only the service key');
    ctx.locals['principal'] = { keyId: 'service', tenant: '*' };
  };
}
