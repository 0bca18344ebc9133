import type { TrackingDomain } from '@winnow/proto';
import { Keyring } from './token-codec';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TENANT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,8}$/;

/** A lower-case DNS hostname (RFC 1123), at most 253 characters, no trailing dot. */
export function isHostname(h: string): boolean {
  return h.length > 0 && h.length <= 253 && h.split('.').every((l) => LABEL.test(l));
}

/** Tenant ids: lower-case letters, digits and inner dashes, 1..63 characters. */
export function isTenantId(t: string): boolean {
  return TENANT.test(t);
}

/** Why a string is not a tenant id (quoted, cut at 80 characters), or undefined when it is one. */
export function tenantIdProblem(t: string): string | undefined {
  return isTenantId(t) ? undefined : `tenant ${JSON.stringify(t.slice(0, 80))} must be lower-case letters, digits and dashes`;
}

/** What is wrong with a tracking domain, or undefined when it can be registered. */
export function trackingDomainProblem(d: TrackingDomain): string | undefined {
  if (!isHostname(d.hostname)) return `hostname ${JSON.stringify(d.hostname)} is not a lower-case DNS name`;
  const tenant = tenantIdProblem(d.tenant);
  if (tenant) return tenant;
  if (d.keys.length === 0) return 'at least one signing key is required';
  const ids = new Set<string>();
  for (const k of d.keys) {
    if (!KEY_ID.test(k.id)) return `key id ${JSON.stringify(k.id)} must be 1-8 characters of [A-Za-z0-9_-]`;
    if (ids.has(k.id)) return `key id ${k.id} appears twice`;
    ids.add(k.id);
    if (k.secret.length !== 32) return `key ${k.id} must be 32 bytes, got ${k.secret.length}`;
  }
  const sealing = d.keys.filter((k) => k.sealing).length;
  if (sealing !== 1) return `exactly one key must seal, got ${sealing}`;
  return undefined;
}

/** The keyring of a (valid) tracking domain. */
export function keyringOf(d: TrackingDomain): Keyring {
  return new Keyring(
    d.keys.map((k) => ({ id: k.id, secret: k.secret })),
    d.keys.find((k) => k.sealing)?.id,
  );
}
