import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, WinnowError } from './errors';
import type { CallContext } from './server';

/** Metadata that carries a key: `authorization: Bearer <key>`. */
export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The key a call presents in `authorization: Bearer <key>` metadata, if it presents one. */
export function presentedKey(ctx: CallContext): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(ctx.header('authorization') ?? '')?.[1];
}

/** Tells whether a presented key is the service key (SHA-256 digests compared in constant time). */
export function serviceKeyMatcher(serviceKey: string): (presented: string) => boolean {
  const expected = digest(serviceKey);
  return (presented) => timingSafeEqual(digest(presented), expected);
}

/** A `before` hook that admits only callers presenting the service key (compared in constant time). */
export function requireServiceKey(serviceKey: string): (ctx: CallContext) => void {
  const isServiceKey = serviceKeyMatcher(serviceKey);
  return (ctx) => {
    const presented = presentedKey(ctx);
    if (!presented || !isServiceKey(presented)) throw new WinnowError(ErrorCode.Unauthenticated, 'this service accepts only the service key');
    ctx.locals['principal'] = { keyId: 'service', tenant: '*' };
  };
}
