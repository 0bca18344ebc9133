import { describe, expect, it } from 'vitest';
import { FINALIZER, decideTrackingDomain, type TrackingDomainInput, type TrackingDomainResource } from './tracking-domain.decision';

const KEY = Buffer.alloc(32, 7).toString('base64');
const NOW = '2026-11-22T12:00:00Z';
const td = (over: Partial<TrackingDomainResource> = {}): TrackingDomainResource => ({
  name: 'nw',
  namespace: 'winnow',
  uid: 'uid-nw',
  generation: 3,
  creationTimestamp: '2026-01-01T00:00:00Z',
  finalizers: [FINALIZER],
  spec: { tenant: 'northwind', hostname: 'links.northwind.example' },
  ...over,
});
const input = (over: Partial<TrackingDomainInput> & { resource?: TrackingDomainResource } = {}): TrackingDomainInput => {
  const resource = over.resource ?? td();
  return {
    resource,
    keySecret: { name: 'nw-signing-keys', data: { k1: KEY } },
    all: [resource],
    route: { kind: 'ingress', collectorService: 'winnow-collector', collectorPort: 80 },
    now: NOW,
    newKey: () => KEY,
    ...over,
  };
};
const kinds = (a: ReturnType<typeof decideTrackingDomain>) => a.map((x) => x.kind);
const cond = (a: ReturnType<typeof decideTrackingDomain>, type: string) => {
  const w = a.find((x) => x.kind === 'writeStatus');
  return w && w.kind === 'writeStatus' ? w.status.conditions!.find((c) => c.type === type) : undefined;
};

describe('decideTrackingDomain', () => {
  const table: Array<[string, TrackingDomainInput, string[], Record<string, [string, string]>]> = [
    ['a new resource gets its finalizer, route, registration and status', input({ resource: td({ finalizers: [] }) }), ['addFinalizer', 'applyRoute', 'register', 'writeStatus'], { Ready: ['True', 'Ready'], KeysReady: ['True', 'KeysLoaded'] }],
    ['no key Secret named: one is generated and owned', input({ keySecret: undefined }), ['createKeySecret', 'applyRoute', 'register', 'writeStatus'], { Ready: ['True', 'Ready'] }],
    ['a named Secret that is missing: nothing routed', input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 'mine' } } }), keySecret: undefined }), ['writeStatus'], { Ready: ['False', 'SecretMissing'] }],
    ['a key of the wrong size', input({ keySecret: { name: 's', data: { k1: Buffer.alloc(16).toString('base64') } } }), ['writeStatus'], { KeysReady: ['False', 'InvalidKey'] }],
    ['several keys and no sealing key named', input({ keySecret: { name: 's', data: { k1: KEY, k2: KEY } } }), ['writeStatus'], { KeysReady: ['False', 'SealingKeyUnset'] }],
    [
      'a hostname claimed earlier by another tenant: Conflict, nothing routed',
      input({ all: [td(), { name: 'other', uid: 'uid-0', creationTimestamp: '2025-12-01T00:00:00Z', spec: { tenant: 'globex', hostname: 'links.northwind.example' } }] }),
      ['deleteRoute', 'writeStatus'],
      { Conflict: ['True', 'HostnameClaimed'], Ready: ['False', 'HostnameClaimed'] },
    ],
    [
      'a later claim by another tenant does not disturb the holder',
      input({ all: [td(), { name: 'late', uid: 'uid-9', creationTimestamp: '2026-06-01T00:00:00Z', spec: { tenant: 'globex', hostname: 'links.northwind.example' } }] }),
      ['applyRoute', 'register', 'writeStatus'],
      { Conflict: ['False', 'NoConflict'] },
    ],
    ['deletion with the finalizer: route removed, deregistered, finalizer released', input({ resource: td({ deletionTimestamp: NOW }) }), ['deleteRoute', 'deregister', 'removeFinalizer'], {}],
    ['deletion already released: nothing', input({ resource: td({ deletionTimestamp: NOW, finalizers: [] }) }), [], {}],
    [
      'deleting while another claim of the same tenant remains keeps the registration',
      input({ resource: td({ deletionTimestamp: NOW }), all: [td({ deletionTimestamp: NOW }), { name: 'twin', uid: 'uid-7', creationTimestamp: '2026-02-01T00:00:00Z', spec: { tenant: 'northwind', hostname: 'links.northwind.example' } }] }),
      ['deleteRoute', 'removeFinalizer'],
      {},
    ],
  ];
  it.each(table)('%s', (_name, inp, expected, conditions) => {
    const a = decideTrackingDomain(inp);
    expect(kinds(a)).toEqual(expected);
    for (const [type, [status, reason]] of Object.entries(conditions)) expect(cond(a, type)).toMatchObject({ type, status, reason, observedGeneration: 3 });
  });

  it('is idempotent: once its status is written, a second pass writes none', () => {
    const first = decideTrackingDomain(input());
    const status = first.find((x) => x.kind === 'writeStatus')!;
    const again = decideTrackingDomain(input({ resource: td({ status: status.kind === 'writeStatus' ? status.status : {} }) }));
    expect(kinds(again)).toEqual(['applyRoute', 'register']);
  });

  it('keeps lastTransitionTime unless a condition flips', () => {
    const first = decideTrackingDomain(input()).find((x) => x.kind === 'writeStatus')!;
    const status = first.kind === 'writeStatus' ? first.status : {};
    const later = decideTrackingDomain(input({ resource: td({ generation: 4, status }), now: '2026-11-23T00:00:00Z' }));
    expect(cond(later, 'Ready')).toMatchObject({ lastTransitionTime: NOW, observedGeneration: 4 });
    const broken = decideTrackingDomain(input({ resource: td({ generation: 5, status }), keySecret: { name: 's', data: {} }, now: '2026-11-24T00:00:00Z' }));
    expect(cond(broken, 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: '2026-11-24T00:00:00Z' });
  });

  it('builds the route: Ingress with TLS and cert-manager, or a Gateway API HTTPRoute', () => {
    const ing = decideTrackingDomain(input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', tls: { issuerRef: { name: 'le' } } } }) })).find((x) => x.kind === 'applyRoute')!;
    expect(ing.kind === 'applyRoute' && ing.route).toMatchObject({
      kind: 'Ingress',
      metadata: { annotations: { 'cert-manager.io/cluster-issuer': 'le' } },
      spec: { tls: [{ hosts: ['links.northwind.example'], secretName: 'nw-tls' }], rules: [{ host: 'links.northwind.example' }] },
    });
    const own = decideTrackingDomain(input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', tls: { secretName: 'nw-cert' } } }) })).find((x) => x.kind === 'applyRoute')!;
    expect(own.kind === 'applyRoute' && own.route).toMatchObject({ kind: 'Ingress', spec: { tls: [{ hosts: ['links.northwind.example'], secretName: 'nw-cert' }] } });
    expect(own.kind === 'applyRoute' && (own.route['metadata'] as { annotations?: unknown }).annotations).toBeUndefined();
    const gw = decideTrackingDomain(input({ route: { kind: 'gateway', collectorService: 'winnow-collector', collectorPort: 80, gateway: { name: 'edge', namespace: 'gw' } } })).find((x) => x.kind === 'applyRoute')!;
    expect(gw.kind === 'applyRoute' && gw.route).toMatchObject({ kind: 'HTTPRoute', spec: { hostnames: ['links.northwind.example'], parentRefs: [{ name: 'edge', namespace: 'gw' }] } });
  });

  it('deregisters only its own tenant (the API ignores a hostname registered to another)', () => {
    const a = decideTrackingDomain(input({ resource: td({ deletionTimestamp: NOW }), all: [td({ deletionTimestamp: NOW }), { name: 'other', uid: 'uid-0', creationTimestamp: '2025-12-01T00:00:00Z', spec: { tenant: 'globex', hostname: 'links.northwind.example' } }] }));
    expect(a.find((x) => x.kind === 'deregister')).toEqual({ kind: 'deregister', hostname: 'links.northwind.example', tenant: 'northwind' });
  });

  it('registers every key, one sealing', () => {
    const a = decideTrackingDomain(input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 's', sealingKeyId: 'k2' } } }), keySecret: { name: 's', data: { k1: KEY, k2: KEY } } }));
    const reg = a.find((x) => x.kind === 'register')!;
    expect(reg.kind === 'register' && reg.keys.map((k) => [k.id, k.sealing])).toEqual([['k1', false], ['k2', true]]);
  });
});
