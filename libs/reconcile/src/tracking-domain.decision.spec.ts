import { describe, expect, it } from 'vitest';
import { FINALIZER, KEY_TIMES, SEALING_KEY, decideTrackingDomain, type KeySecret, type TrackingDomainInput, type TrackingDomainResource } from './tracking-domain.decision';

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
    keySecret: { name: 'nw-signing-keys', data: { k1: KEY }, annotations: { [KEY_TIMES]: JSON.stringify({ k1: '2026-11-01T00:00:00.000Z' }), [SEALING_KEY]: 'k1' } },
    all: [resource],
    route: { kind: 'ingress', collectorService: 'winnow-collector', collectorPort: 80 },
    now: NOW,
    newKey: () => KEY,
    tokenMaxAgeDays: 400,
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
    [
      'several keys in a named Secret and no sealing key named',
      input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 's' } } }), keySecret: { name: 's', data: { k1: KEY, k2: KEY } } }),
      ['writeStatus'],
      { KeysReady: ['False', 'SealingKeyUnset'] },
    ],
    [
      'a hostname claimed earlier by another tenant: Conflict, nothing routed',
      input({ all: [td(), { name: 'other', uid: 'uid-0', creationTimestamp: '2025-12-01T00:00:00Z', spec: { tenant: 'globex', hostname: 'links.northwind.example' } }] }),
      ['deleteRoute', 'writeStatus'],
      { Conflict: ['True', 'HostnameClaimed'], Ready: ['False', 'HostnameClaimed'], Routed: ['False', 'HostnameClaimed'], Registered: ['False', 'HostnameClaimed'], KeysReady: ['Unknown', 'NotReached'] },
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

  it('says Unknown for the steps a stopped reconcile did not reach, not what an earlier generation found', () => {
    const was = decideTrackingDomain(input({ resource: td({ generation: 2 }) })).find((a) => a.kind === 'writeStatus')!;
    const status = was.kind === 'writeStatus' ? was.status : undefined;
    expect(status!.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual(['Conflict=False', 'KeysReady=True', 'Ready=True', 'Registered=True', 'Routed=True']);
    // Generation 3 names a Secret that is not there: the keys were checked, routing and registering were not.
    const now = decideTrackingDomain(input({ resource: td({ status, spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 'mine' } } }), keySecret: undefined }));
    expect(cond(now, 'KeysReady')).toMatchObject({ status: 'False', reason: 'SecretMissing', observedGeneration: 3 });
    for (const type of ['Routed', 'Registered']) expect(cond(now, type)).toMatchObject({ status: 'Unknown', reason: 'NotReached', message: 'not checked: the reconcile stopped at SecretMissing', observedGeneration: 3, lastTransitionTime: NOW });
    expect(cond(now, 'Conflict')).toMatchObject({ status: 'False', observedGeneration: 3 });
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

  it("says in the Routed condition that spec.tls is not applied with a Gateway API route (the Gateway's listener ends TLS)", () => {
    const gateway = { kind: 'gateway' as const, collectorService: 'winnow-collector', collectorPort: 80, gateway: { name: 'edge', namespace: 'gw' } };
    const routed = (resource: TrackingDomainResource, route = gateway) => {
      const status = decideTrackingDomain(input({ resource, route })).find((x) => x.kind === 'writeStatus');
      return (status?.kind === 'writeStatus' ? status.status.conditions : [])?.find((c) => c.type === 'Routed');
    };
    const withTls = td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', tls: { issuerRef: { name: 'le' } } } });
    expect(routed(withTls)).toMatchObject({ status: 'True', reason: 'HTTPRouteApplied' });
    expect(routed(withTls)!.message).toContain('spec.tls is not applied with Gateway API routes');
    expect(routed(withTls)!.message).toContain('Gateway gw/edge');
    expect(routed(td())!.message).not.toContain('spec.tls');
    expect(routed(withTls, { kind: 'ingress', collectorService: 'winnow-collector', collectorPort: 80 } as never)!.message).not.toContain('spec.tls');
  });

  it('deregisters only its own tenant (the API ignores a hostname registered to another)', () => {
    const a = decideTrackingDomain(input({ resource: td({ deletionTimestamp: NOW }), all: [td({ deletionTimestamp: NOW }), { name: 'other', uid: 'uid-0', creationTimestamp: '2025-12-01T00:00:00Z', spec: { tenant: 'globex', hostname: 'links.northwind.example' } }] }));
    expect(a.find((x) => x.kind === 'deregister')).toEqual({ kind: 'deregister', hostname: 'links.northwind.example', tenant: 'northwind' });
  });

  it('makes a lost generated Secret again from the keys stats holds, so mailed links keep opening', () => {
    const OLD = Buffer.alloc(32, 1).toString('base64');
    const SEAL = Buffer.alloc(32, 2).toString('base64');
    const a = decideTrackingDomain(input({ keySecret: undefined, newKey: () => KEY, registeredKeys: [{ id: 'k1', secretBase64: OLD, sealing: false }, { id: 'k2', secretBase64: SEAL, sealing: true }] }));
    const created = a.find((x) => x.kind === 'createKeySecret');
    expect(created).toMatchObject({ restored: true, secret: { data: { k1: OLD, k2: SEAL }, annotations: { [SEALING_KEY]: 'k2' } } });
    const reg = a.find((x) => x.kind === 'register');
    expect(reg).toMatchObject({ keys: [{ id: 'k1', secretBase64: OLD, sealing: false }, { id: 'k2', secretBase64: SEAL, sealing: true }] });
    // Nothing registered: a fresh key, as before.
    expect(decideTrackingDomain(input({ keySecret: undefined, registeredKeys: [] })).find((x) => x.kind === 'createKeySecret')).toMatchObject({ restored: false, secret: { data: { k1: KEY } } });
  });

  it('registers every key, one sealing', () => {
    const a = decideTrackingDomain(input({ resource: td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 's', sealingKeyId: 'k2' } } }), keySecret: { name: 's', data: { k1: KEY, k2: KEY } } }));
    const reg = a.find((x) => x.kind === 'register')!;
    expect(reg.kind === 'register' && reg.keys.map((k) => [k.id, k.sealing])).toEqual([['k1', false], ['k2', true]]);
  });
});

describe('decideTrackingDomain: signing-key rotation of the generated Secret', () => {
  const day = 86_400_000;
  const ago = (days: number) => new Date(Date.parse(NOW) - days * day).toISOString();
  const generated = (times: Record<string, string>, sealing?: string, extra: Partial<KeySecret> = {}): KeySecret => ({
    name: 'nw-signing-keys',
    data: Object.fromEntries(Object.keys(times).map((id) => [id, KEY])),
    annotations: { [KEY_TIMES]: JSON.stringify(times), ...(sealing ? { [SEALING_KEY]: sealing } : {}) },
    ...extra,
  });
  const rotation = (a: ReturnType<typeof decideTrackingDomain>) => a.find((x) => x.kind === 'rotateKeys') as Extract<ReturnType<typeof decideTrackingDomain>[number], { kind: 'rotateKeys' }> | undefined;
  const registered = (a: ReturnType<typeof decideTrackingDomain>) =>
    (a.find((x) => x.kind === 'register') as Extract<ReturnType<typeof decideTrackingDomain>[number], { kind: 'register' }>).keys.map((k) => `${k.id}${k.sealing ? '*' : ''}`);
  const fresh = () => Buffer.alloc(32, 9).toString('base64');

  it('adds a new sealing key once the current one is older than the period, and keeps the old one opening', () => {
    const a = decideTrackingDomain(input({ keySecret: generated({ k1: ago(91) }, 'k1'), newKey: fresh }));
    expect(rotation(a)).toMatchObject({ added: 'k2', removed: [], sealingKeyId: 'k2' });
    expect(rotation(a)!.secret.data).toEqual({ k1: KEY, k2: fresh() });
    expect(JSON.parse(rotation(a)!.secret.annotations![KEY_TIMES]!)).toEqual({ k1: ago(91), k2: new Date(NOW).toISOString() });
    expect(registered(a)).toEqual(['k1', 'k2*']);
    const status = (a.find((x) => x.kind === 'writeStatus') as Extract<ReturnType<typeof decideTrackingDomain>[number], { kind: 'writeStatus' }>).status;
    expect(status).toMatchObject({ sealingKeyId: 'k2', keysRotatedAt: NOW });
  });

  it('leaves a key younger than the period, and follows spec.keyRotation.everyDays (0: never)', () => {
    expect(rotation(decideTrackingDomain(input({ keySecret: generated({ k1: ago(89) }, 'k1') })))).toBeUndefined();
    const weekly = td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', keyRotation: { everyDays: 7 } } });
    expect(rotation(decideTrackingDomain(input({ resource: weekly, keySecret: generated({ k1: ago(8) }, 'k1') })))?.added).toBe('k2');
    const never = td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', keyRotation: { everyDays: 0 } } });
    expect(rotation(decideTrackingDomain(input({ resource: never, keySecret: generated({ k1: ago(5000) }, 'k1') })))).toBeUndefined();
  });

  it('removes a key once everything it sealed is past the token maximum age, never the sealing one', () => {
    // k1 stopped sealing when k2 was made, 401 days ago: no token it sealed is taken any more.
    const a = decideTrackingDomain(input({ keySecret: generated({ k1: ago(500), k2: ago(401), k3: ago(10) }, 'k3') }));
    expect(rotation(a)).toMatchObject({ added: undefined, removed: ['k1'] });
    expect(registered(a)).toEqual(['k2', 'k3*']);
    // With tokens that never expire, nothing is removed.
    expect(rotation(decideTrackingDomain(input({ keySecret: generated({ k1: ago(500), k2: ago(401), k3: ago(10) }, 'k3'), tokenMaxAgeDays: 0 })))).toBeUndefined();
  });

  it('notes times on a Secret generated before rotation existed, dating its keys from the Secret', () => {
    const old: KeySecret = { name: 'nw-signing-keys', data: { k1: KEY }, createdAt: ago(30) };
    const a = decideTrackingDomain(input({ keySecret: old }));
    expect(rotation(a)).toMatchObject({ added: undefined, removed: [], sealingKeyId: 'k1' });
    expect(JSON.parse(rotation(a)!.secret.annotations![KEY_TIMES]!)).toEqual({ k1: ago(30) });
    expect(kinds(decideTrackingDomain(input({ keySecret: { ...old, createdAt: ago(120) } })))).toContain('rotateKeys');
    expect(rotation(decideTrackingDomain(input({ keySecret: { ...old, createdAt: ago(120) } })))?.added).toBe('k2');
  });

  it('never touches a Secret named in the spec: its keys are the owner’s', () => {
    const named = td({ spec: { tenant: 'northwind', hostname: 'links.northwind.example', signingKeys: { secretName: 'mine', sealingKeyId: 'k1' } } });
    expect(rotation(decideTrackingDomain(input({ resource: named, keySecret: { name: 'mine', data: { k1: KEY }, createdAt: ago(5000) } })))).toBeUndefined();
  });

  it('does not rotate a generated Secret whose keys are broken: it reports them', () => {
    const a = decideTrackingDomain(input({ keySecret: { ...generated({ k1: ago(200) }, 'k1'), data: { k1: Buffer.alloc(16).toString('base64') } } }));
    expect(rotation(a)).toBeUndefined();
    expect(cond(a, 'KeysReady')).toMatchObject({ status: 'False', reason: 'InvalidKey' });
  });
});
