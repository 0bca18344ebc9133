import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { clone } from '@bufbuild/protobuf';
import { TrackingDomainSchema, type TrackingDomain } from '@winnow/proto';
import type { EventStore } from './event-store.port';

/** Marks a sealed signing key: version byte, then nonce, ciphertext and tag. A plain key is 32 bytes. */
const VERSION = 0x01;
const NONCE = 12;
const TAG = 16;
const KEY_BYTES = 32;
const SEALED_BYTES = 1 + NONCE + KEY_BYTES + TAG;

/** A signing key that cannot be opened: the message says which and why. */
export class SealedKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedKeyError';
  }
}

/**
 * The key-encryption key under which tracking domains' signing keys are stored (AES-256-GCM, the
 * hostname and key id bound in as associated data, so a sealed key moved to another domain or id does
 * not open). Only the statistics service, which owns configuration, holds it.
 */
export class KeyEncryptionKey {
  private constructor(private readonly key: Buffer) {}

  static of(key: Buffer): KeyEncryptionKey {
    if (key.length !== 32) throw new SealedKeyError(`a key-encryption key is 32 bytes, got ${key.length}`);
    return new KeyEncryptionKey(Buffer.from(key));
  }

  /**
   * Reads the key from `file` (32 bytes, base64 text such as `openssl rand -base64 32` writes).
   * With `createIfMissing` a missing file is made with a fresh random key, readable by its owner only
   * (outside Kubernetes, as the service key is); in Kubernetes it is a Secret mounted as a file.
   */
  static fromFile(file: string, createIfMissing: boolean): { kek: KeyEncryptionKey; created: boolean } {
    if (!existsSync(file)) {
      if (!createIfMissing) throw new SealedKeyError(`${file}: no key-encryption key there (WINNOW_KEY_ENCRYPTION_KEY_FILE; docs/privacy.md)`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      return { kek: KeyEncryptionKey.fromFile(file, false).kek, created: true };
    }
    const text = readFileSync(file, 'utf8').trim();
    const key = Buffer.from(text, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || key.length !== 32) {
      throw new SealedKeyError(`${file}: a key-encryption key is 32 bytes in base64 (openssl rand -base64 32)`);
    }
    return { kek: new KeyEncryptionKey(key), created: false };
  }

  private static aad(hostname: string, keyId: string): Buffer {
    return Buffer.from(`winnow-signing-key\u0000${hostname}\u0000${keyId}`);
  }

  static isSealed(secret: Uint8Array): boolean {
    return secret.length === SEALED_BYTES && secret[0] === VERSION;
  }

  sealKey(hostname: string, keyId: string, secret: Uint8Array): Uint8Array {
    if (KeyEncryptionKey.isSealed(secret)) return secret;
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(KeyEncryptionKey.aad(hostname, keyId));
    const body = Buffer.concat([c.update(secret), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), nonce, body, c.getAuthTag()]);
  }

  openKey(hostname: string, keyId: string, stored: Uint8Array): Uint8Array {
    if (!KeyEncryptionKey.isSealed(stored)) return stored; // stored before keys were sealed
    const b = Buffer.from(stored);
    const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(1, 1 + NONCE));
    d.setAAD(KeyEncryptionKey.aad(hostname, keyId));
    d.setAuthTag(b.subarray(b.length - TAG));
    try {
      return Buffer.concat([d.update(b.subarray(1 + NONCE, b.length - TAG)), d.final()]);
    } catch {
      throw new SealedKeyError(`signing key ${keyId} of ${hostname} does not open under this key-encryption key (was it replaced?)`);
    }
  }

  seal(d: TrackingDomain): TrackingDomain {
    const out = clone(TrackingDomainSchema, d);
    for (const k of out.keys) k.secret = this.sealKey(d.hostname, k.id, k.secret);
    return out;
  }

  open(d: TrackingDomain): TrackingDomain {
    const out = clone(TrackingDomainSchema, d);
    for (const k of out.keys) k.secret = this.openKey(d.hostname, k.id, k.secret);
    return out;
  }
}

/**
 * The store as the statistics service uses it: tracking domains' signing keys are sealed on the way
 * in and opened on the way out; everything else passes through.
 */
export function withSealedSigningKeys(store: EventStore, kek: KeyEncryptionKey): EventStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'putDomain') return (d: TrackingDomain) => target.putDomain(kek.seal(d));
      if (prop === 'listDomains') return async () => (await target.listDomains()).map((d) => kek.open(d));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Seals, in place, every signing key stored before keys were sealed. Returns how many domains changed. */
export async function sealStoredSigningKeys(raw: EventStore, kek: KeyEncryptionKey): Promise<number> {
  let changed = 0;
  for (const d of await raw.listDomains()) {
    if (d.keys.every((k) => KeyEncryptionKey.isSealed(k.secret))) continue;
    await raw.putDomain(kek.seal(d));
    changed++;
  }
  return changed;
}
