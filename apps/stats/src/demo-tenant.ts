import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { TrackingDomainSchema } from '@winnow/proto';
import type { EventStore } from '@winnow/storage';

export const DEMO_TENANT = 'demo-clinic';
/** `*.localhost` resolves to loopback in browsers and curl, so the demo host works on any machine. */
export const DEMO_HOSTNAME = 'demo-clinic.localhost';

/** Registers the demo tenant's tracking domain with a fresh random key, once. */
export async function ensureDemoTenant(store: EventStore): Promise<boolean> {
  if ((await store.listDomains()).some((d) => d.hostname === DEMO_HOSTNAME)) return false;
  await store.putDomain(
    create(TrackingDomainSchema, { hostname: DEMO_HOSTNAME, tenant: DEMO_TENANT, keys: [{ id: 'demo1', secret: randomBytes(32), sealing: true }] }),
  );
  return true;
}
