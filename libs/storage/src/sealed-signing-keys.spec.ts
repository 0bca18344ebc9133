import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { TrackingDomainSchema } from '@winnow/proto';
import { LmdbEventStore } from './embedded/lmdb-event-store';
import { KeyEncryptionKey, SealedKeyError, sealStoredSigningKeys, withSealedSigningKeys } from './sealed-signing-keys';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'winnow-kek-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const secret = randomBytes(32);
const domain = create(TrackingDomainSchema, { hostname: 'links.clinic.example', tenant: 'clinic', keys: [{ id: 'k1', secret, sealing: true }] });

describe('signing keys sealed at rest under a key-encryption key', () => {
  it('opens what it sealed, and only for the same domain and key id under the same key', () => {
    const kek = KeyEncryptionKey.of(randomBytes(32));
    const sealed = kek.seal(domain);
    expect(sealed.keys[0]!.secret).toHaveLength(61);
    expect(Buffer.from(sealed.keys[0]!.secret).includes(secret)).toBe(false);
    expect(Buffer.from(kek.open(sealed).keys[0]!.secret).equals(secret)).toBe(true);
    expect(kek.seal(sealed).keys[0]!.secret).toEqual(sealed.keys[0]!.secret); // sealing twice changes nothing
    expect(() => KeyEncryptionKey.of(randomBytes(32)).open(sealed)).toThrow(SealedKeyError);
    expect(() => kek.open({ ...sealed, hostname: 'links.other.example' })).toThrow(/k1 of links\.other\.example does not open/);
    expect(() => kek.open({ ...sealed, keys: [{ ...sealed.keys[0]!, id: 'k2' }] })).toThrow(SealedKeyError);
    // A key stored before sealing existed reads as it was.
    expect(Buffer.from(kek.open(domain).keys[0]!.secret).equals(secret)).toBe(true);
  });

  it('is made at first start outside Kubernetes, readable by its owner only, and read back after', () => {
    const file = join(tempDir(), 'data', 'key-encryption-key');
    const first = KeyEncryptionKey.fromFile(file, true);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = KeyEncryptionKey.fromFile(file, true);
    expect(again.created).toBe(false);
    expect(Buffer.from(again.kek.open(first.kek.seal(domain)).keys[0]!.secret).equals(secret)).toBe(true);
    expect(() => KeyEncryptionKey.fromFile(join(tempDir(), 'missing'), false)).toThrow(/no key-encryption key there/);
    const bad = join(tempDir(), 'short');
    writeFileSync(bad, randomBytes(16).toString('base64'));
    expect(() => KeyEncryptionKey.fromFile(bad, false)).toThrow(/32 bytes in base64/);
  });

  it('seals keys stored before the upgrade in place, and stores new keys sealed only', async () => {
    const dir = tempDir();
    const raw = new LmdbEventStore(join(dir, 'store'));
    await raw.init();
    try {
      await raw.putDomain(domain); // as an older version stored it
      const kek = KeyEncryptionKey.of(randomBytes(32));
      expect(await sealStoredSigningKeys(raw, kek)).toBe(1);
      expect(await sealStoredSigningKeys(raw, kek)).toBe(0);
      const store = withSealedSigningKeys(raw, kek);
      const next = randomBytes(32);
      await store.putDomain(create(TrackingDomainSchema, { hostname: domain.hostname, tenant: domain.tenant, keys: [{ id: 'k1', secret, sealing: true }, { id: 'k2', secret: next, sealing: false }] }));
      const opened = (await store.listDomains())[0]!;
      expect(opened.keys.map((k) => Buffer.from(k.secret).toString('hex'))).toEqual([secret.toString('hex'), next.toString('hex')]);
      for (const k of (await raw.listDomains())[0]!.keys) expect(KeyEncryptionKey.isSealed(k.secret)).toBe(true);
      await raw.close();
      // The store's own file never held the new key in clear. (The old one, written in clear before
      // the upgrade, stays in free pages until they are reused or the file is compacted: docs/privacy.md.)
      const bytes = readFileSync(join(dir, 'store', 'data.mdb'));
      expect(bytes.includes(next)).toBe(false);
    } finally {
      await raw.close().catch(() => undefined);
    }
  });
});
