import { describe, expect, it } from 'vitest';
import { generateApiKey, parseApiKey, secretMatches } from './api-key';

describe('API keys', () => {
  it('parse and verify, and store only a hash', () => {
    const k = generateApiKey();
    expect(k.key).toMatch(/^wk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/);
    const p = parseApiKey(k.key)!;
    expect(p.keyId).toBe(k.keyId);
    expect(secretMatches(p.secret, k.secretSha256)).toBe(true);
    expect(secretMatches(`${p.secret.slice(0, -1)}A`, k.secretSha256)).toBe(p.secret.endsWith('A'));
    expect(k.secretSha256.toString('base64url')).not.toContain(p.secret);
    expect(parseApiKey('Bearer nope')).toBeUndefined();
    expect(parseApiKey(`${k.key}x`)).toBeUndefined();
  });

  it("never make an id that begins with '-', which a command line would read as an option", () => {
    // One id in 64 began with '-' before the rule: 2,000 ids would hold about 31 of them.
    const leading = Array.from({ length: 2000 }, () => generateApiKey().keyId).filter((id) => id.startsWith('-'));
    expect(leading).toEqual([]);
  });
});
