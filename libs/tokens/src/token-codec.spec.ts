import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventKind, LinkRole } from '@winnow/proto';
import { Keyring, MAX_TOKEN_CHARS, TokenError, TokenRejection, TokenTooLongError, openToken, sealToken, sealedTokenChars } from './token-codec';

const k1 = { id: 'k1', secret: randomBytes(32) };
const k2 = { id: 'k2', secret: randomBytes(32) };
const now = 1_790_000_000;
const opts = { nowS: now, maxAgeS: 86_400 * 400, tenant: 'clinic' };
const payload = {
  tenant: 'clinic',
  campaign: 'flu',
  message: 'm-1',
  kind: EventKind.CLICK,
  linkIndex: 2,
  linkRole: LinkRole.CONTENT,
  targetUrl: 'https://clinic.example/book?slot=9',
  sentAtUnixS: String(now - 60),
  links: 4,
};

function refusal(fn: () => unknown): TokenRejection | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof TokenError) return e.reason;
    throw e;
  }
  return undefined;
}

describe('sealed tokens', () => {
  it('round-trips and hides the payload', () => {
    const ring = new Keyring([k1], 'k1');
    const t = sealToken(ring, payload);
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(t, 'base64url').toString('latin1')).not.toContain('clinic.example');
    const p = openToken(ring, t, opts);
    expect(p).toMatchObject({ tenant: 'clinic', message: 'm-1', linkIndex: 2, targetUrl: payload.targetUrl });
  });

  it('gives every token an IV of its own, across the pool\'s refills, and every token still opens', () => {
    const ring = new Keyring([k1], 'k1');
    const ivs = new Set<string>();
    const tokens: string[] = [];
    // 1,000 seals: the IV pool (256 IVs) is replaced three times on the way.
    for (let i = 0; i < 1_000; i++) {
      const t = sealToken(ring, { ...payload, message: `m-${i}` });
      tokens.push(t);
      const raw = Buffer.from(t, 'base64url');
      ivs.add(raw.subarray(4, 16).toString('hex'));
    }
    expect(ivs.size).toBe(1_000);
    // An IV already handed out is never rewritten: each token opens after all the later seals.
    tokens.forEach((t, i) => expect(openToken(ring, t, opts).message).toBe(`m-${i}`));
  });

  it('keeps opening tokens sealed by a retired key after rotation', () => {
    const old = sealToken(new Keyring([k1], 'k1'), payload);
    const rotated = new Keyring([k1, k2], 'k2');
    expect(openToken(rotated, old, opts).message).toBe('m-1');
    expect(Buffer.from(sealToken(rotated, payload), 'base64url').subarray(2, 4).toString()).toBe('k2');
  });

  it('refuses forged, truncated, tampered, foreign and expired tokens', () => {
    const ring = new Keyring([k1], 'k1');
    const t = sealToken(ring, payload);
    const raw = Buffer.from(t, 'base64url');
    const flip = (i: number) => {
      const b = Buffer.from(raw);
      b[i] = b[i]! ^ 1;
      return b.toString('base64url');
    };
    expect(refusal(() => openToken(ring, '', opts))).toBe(TokenRejection.Malformed);
    expect(refusal(() => openToken(ring, 'not base64!', opts))).toBe(TokenRejection.Malformed);
    expect(refusal(() => openToken(ring, t.slice(0, 20), opts))).toBe(TokenRejection.Malformed);
    expect(refusal(() => openToken(ring, t.slice(0, -3), opts))).toBe(TokenRejection.BadSeal);
    expect(refusal(() => openToken(ring, flip(0), opts))).toBe(TokenRejection.UnsupportedVersion);
    expect(refusal(() => openToken(ring, flip(3), opts))).toBe(TokenRejection.UnknownKey);
    expect(refusal(() => openToken(ring, flip(raw.length - 20), opts))).toBe(TokenRejection.BadSeal);
    expect(refusal(() => openToken(ring, flip(raw.length - 1), opts))).toBe(TokenRejection.BadSeal);
    expect(refusal(() => openToken(new Keyring([{ id: 'k1', secret: randomBytes(32) }], 'k1'), t, opts))).toBe(TokenRejection.BadSeal);
    expect(refusal(() => openToken(ring, t, { ...opts, tenant: 'other' }))).toBe(TokenRejection.WrongTenant);
    expect(refusal(() => openToken(ring, t, { ...opts, nowS: now + 86_400 * 401 }))).toBe(TokenRejection.Expired);
    expect(refusal(() => openToken(ring, 'A'.repeat(5000), opts))).toBe(TokenRejection.Malformed);
  });

  it('refuses a genuine seal around a send time no sealer of ours writes (negative or past 2106)', () => {
    const ring = new Keyring([k1], 'k1');
    for (const sentAtUnixS of ['-1', '4294967296', '9223372036854775807']) {
      const t = sealToken(ring, { ...payload, sentAtUnixS });
      expect(refusal(() => openToken(ring, t, { ...opts, maxAgeS: 0 })), sentAtUnixS).toBe(TokenRejection.BadPayload);
    }
    expect(openToken(ring, sealToken(ring, { ...payload, sentAtUnixS: '4294967295' }), { ...opts, maxAgeS: 0 }).sentAtUnixS).toBe('4294967295');
  });

  it('validates keys', () => {
    expect(() => new Keyring([{ id: 'bad id', secret: randomBytes(32) }], undefined)).toThrow(/key id/);
    expect(() => new Keyring([{ id: 'k', secret: randomBytes(16) }], undefined)).toThrow(/32 bytes/);
    expect(() => new Keyring([k1], 'k9')).toThrow(/sealing key/);
  });

  it('knows a token\'s length before sealing it, and refuses to seal one no collector would open', () => {
    const ring = new Keyring([k1], 'k1');
    for (let n = 0; n < 3200; n += 97) {
      const p = { ...payload, targetUrl: `https://clinic.example/${'x'.repeat(n)}` };
      const chars = sealedTokenChars(ring, p);
      if (chars <= MAX_TOKEN_CHARS) {
        const token = sealToken(ring, p);
        expect(token.length).toBe(chars);
        expect(openToken(ring, token, opts)).toMatchObject({ targetUrl: p.targetUrl });
      } else {
        expect(() => sealToken(ring, p)).toThrow(TokenTooLongError);
      }
    }
    // The limit falls inside the range walked above.
    expect(sealedTokenChars(ring, { ...payload, targetUrl: `https://clinic.example/${'x'.repeat(3200)}` })).toBeGreaterThan(MAX_TOKEN_CHARS);
  });
});
