import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where `npm start` keeps the service key it generated for the embedded default. */
export const keyFile = (dataDir: string) => join(dataDir, 'service-key');

/**
 * The service key for a local stack: WINNOW_SERVICE_KEY when set; otherwise the one stored in the
 * data directory, created (random, readable by the owner only) on first use.
 */
export function localServiceKey(dataDir: string, create: boolean): string {
  const fromEnv = process.env['WINNOW_SERVICE_KEY'];
  if (fromEnv) return fromEnv;
  const file = keyFile(resolve(dataDir));
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (!create) throw new Error(`set WINNOW_SERVICE_KEY (no ${file} either)`);
  mkdirSync(resolve(dataDir), { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
