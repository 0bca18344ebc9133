import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `wk_<key id>_<secret>`: a 12-character public id (to find the record) and a
 * 32-byte random secret, both base64url. Only SHA-256 of the secret is stored; with 256 random bits
 * a slow hash adds nothing. Comparison is constant-time. A new id never begins with '-', so it can be
 * typed after a command (`winnow keys revoke ID`) without reading as an option; ids made before
 * that rule may, and go after `--`.
 */
const KEY = /^wk_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  key: string;
  keyId: string;
  secretSha256: Buffer;
}

export function generateApiKey(): NewApiKey {
  let keyId: string;
  do keyId = randomBytes(9).toString('base64url');
  while (keyId.startsWith('-'));
  const secret = randomBytes(32).toString('base64url');
  return { key: `wk_${keyId}_${secret}`, keyId, secretSha256: sha256(secret) };
}

export function parseApiKey(key: string): { keyId: string; secret: string } | undefined {
  const m = KEY.exec(key);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether `secret` hashes to `stored`, in constant time. */
export function secretMatches(secret: string, stored: Uint8Array): boolean {
  const h = sha256(secret);
  return stored.length === h.length && timingSafeEqual(h, stored);
}
