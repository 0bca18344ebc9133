import { isHostname, isTenantId } from '@winnow/tokens';
import { sameJson, setConditions, type Condition, type ConditionInput } from './conditions';

/** The conditions of the steps after Ready's own checks, in the order a reconcile reaches them. */
const STEP_CONDITIONS = ['Conflict', 'KeysReady', 'Routed', 'Registered'] as const;
export const FINALIZER = 'winnow.dev/deregister';
const KEY_ID = /^[A-Za-z0-9_-]{1,8}$/;

export interface TrackingDomainSpec {
  tenant: string;
  hostname: string;
  signingKeys?: { secretName: string; sealingKeyId?: string };
  keyRotation?: { everyDays?: number };
  tls?: { secretName?: string; issuerRef?: { name: string; kind?: 'Issuer' | 'ClusterIssuer' } };
}

export interface TrackingDomainStatus {
  observedGeneration?: number;
  signingKeySecret?: string;
  /** The key new tokens are sealed with. */
  sealingKeyId?: string;
  /** When the operator last put a new sealing key into the generated Secret. */
  keysRotatedAt?: string;
  conditions?: Condition[];
}

export interface TrackingDomainResource {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  finalizers: string[];
  spec: TrackingDomainSpec;
  status?: TrackingDomainStatus;
}

/** A Secret as the decision needs it: key id -> base64 value. */
export interface KeySecret {
  name: string;
  data: Record<string, string>;
  /** On a generated Secret: KEY_TIMES and SEALING_KEY. */
  annotations?: Record<string, string>;
  /** metadata.creationTimestamp: the time of keys that carry none (made before rotation existed). */
  createdAt?: string;
}

/** On a generated key Secret: JSON {key id: ISO time it was made}. */
export const KEY_TIMES = 'winnow.dev/key-created';
/** On a generated key Secret: the id of the key that seals. */
export const SEALING_KEY = 'winnow.dev/sealing-key';
export const DEFAULT_ROTATION_DAYS = 90;
const DAY_MS = 86_400_000;

export interface RouteSettings {
  kind: 'ingress' | 'gateway';
  collectorService: string;
  collectorPort: number;
  ingressClassName?: string;
  gateway?: { name: string; namespace?: string };
}

export interface TrackingDomainInput {
  resource: TrackingDomainResource;
  /** The Secret the keys come from (named in the spec, or the generated one), if it exists. */
  keySecret: KeySecret | undefined;
  /** Every TrackingDomain in the namespace, this one included (hostname claims). */
  all: readonly Pick<TrackingDomainResource, 'name' | 'uid' | 'creationTimestamp' | 'deletionTimestamp' | 'spec'>[];
  route: RouteSettings;
  now: string;
  /** 32 random bytes, base64; called only when a key must be generated. */
  newKey: () => string;
  /**
   * The keys stats holds for this hostname and tenant (read only when the generated Secret is
   * missing). A lost Secret is made again from them, so links already mailed keep opening.
   */
  registeredKeys?: ReadonlyArray<{ id: string; secretBase64: string; sealing: boolean }>;
  /** Tokens older than this are refused by the collector (WINNOW_TOKEN_MAX_AGE_DAYS; 0 = never). */
  tokenMaxAgeDays: number;
}

export type TrackingDomainAction =
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'createKeySecret'; secret: KeySecret; ownerUid: string; restored: boolean }
  | { kind: 'rotateKeys'; secret: KeySecret; sealingKeyId: string; added: string | undefined; removed: string[] }
  | { kind: 'applyRoute'; route: Record<string, unknown> }
  | { kind: 'deleteRoute'; routeKind: RouteSettings['kind']; name: string }
  | { kind: 'register'; hostname: string; tenant: string; keys: Array<{ id: string; secretBase64: string; sealing: boolean }> }
  | { kind: 'deregister'; hostname: string; tenant: string }
  | { kind: 'writeStatus'; status: TrackingDomainStatus };

export const routeName = (r: Pick<TrackingDomainResource, 'name'>) => `winnow-td-${r.name}`;
export const generatedSecretName = (r: Pick<TrackingDomainResource, 'name'>) => `${r.name}-signing-keys`;

/** The TrackingDomain that holds a hostname: the oldest claim (uid breaks ties); deleting ones do not count. */
function owner(input: TrackingDomainInput) {
  const claims = input.all.filter((d) => d.spec.hostname === input.resource.spec.hostname && !d.deletionTimestamp);
  claims.sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || a.uid.localeCompare(b.uid));
  return claims[0];
}

/** The Gateway an HTTPRoute attaches to (`winnow` in the route's namespace unless configured). */
function gatewayRef(s: RouteSettings): { name: string; namespace?: string } {
  return { name: s.gateway?.name ?? 'winnow', ...(s.gateway?.namespace ? { namespace: s.gateway.namespace } : {}) };
}

function desiredRoute(r: TrackingDomainResource, s: RouteSettings): Record<string, unknown> {
  const labels = { 'app.kubernetes.io/managed-by': 'winnow-operator', 'winnow.dev/tracking-domain': r.name };
  if (s.kind === 'gateway') {
    return {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: routeName(r), namespace: r.namespace, labels },
      spec: {
        parentRefs: [gatewayRef(s)],
        hostnames: [r.spec.hostname],
        rules: [{ backendRefs: [{ name: s.collectorService, port: s.collectorPort }] }],
      },
    };
  }
  const issuer = r.spec.tls?.issuerRef;
  const tlsSecret = r.spec.tls?.secretName ?? (issuer ? `${r.name}-tls` : undefined);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: routeName(r),
      namespace: r.namespace,
      labels,
      ...(issuer ? { annotations: { [issuer.kind === 'Issuer' ? 'cert-manager.io/issuer' : 'cert-manager.io/cluster-issuer']: issuer.name } } : {}),
    },
    spec: {
      ...(s.ingressClassName ? { ingressClassName: s.ingressClassName } : {}),
      ...(tlsSecret ? { tls: [{ hosts: [r.spec.hostname], secretName: tlsSecret }] } : {}),
      rules: [
        {
          host: r.spec.hostname,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: s.collectorService, port: { number: s.collectorPort } } } }] },
        },
      ],
    },
  };
}

type KeyCheck = { ok: true; keys: Array<{ id: string; secretBase64: string; sealing: boolean }> } | { ok: false; reason: string; message: string };

function checkKeys(secret: KeySecret, sealingKeyId: string | undefined): KeyCheck {
  const ids = Object.keys(secret.data).sort();
  if (ids.length === 0) return { ok: false, reason: 'NoKeys', message: `Secret ${secret.name} holds no keys` };
  for (const id of ids) {
    if (!KEY_ID.test(id)) return { ok: false, reason: 'InvalidKey', message: `key id ${JSON.stringify(id)} in Secret ${secret.name} must be 1-8 characters of [A-Za-z0-9_-]` };
    if (Buffer.from(secret.data[id]!, 'base64').length !== 32) return { ok: false, reason: 'InvalidKey', message: `key ${id} in Secret ${secret.name} must be 32 bytes` };
  }
  const sealing = sealingKeyId ?? (ids.length === 1 ? ids[0] : undefined);
  if (!sealing) return { ok: false, reason: 'SealingKeyUnset', message: `Secret ${secret.name} has several keys: name the sealing one in spec.signingKeys.sealingKeyId` };
  if (!ids.includes(sealing)) return { ok: false, reason: 'SealingKeyMissing', message: `Secret ${secret.name} has no key ${sealing}` };
  return { ok: true, keys: ids.map((id) => ({ id, secretBase64: secret.data[id]!, sealing: id === sealing })) };
}

/** The key a generated Secret seals with: the one it notes, else its newest (by noted time, then id). */
function generatedSealingKey(secret: KeySecret, now: string): string {
  const ids = Object.keys(secret.data);
  const noted = secret.annotations?.[SEALING_KEY];
  if (noted && ids.includes(noted)) return noted;
  let times: Record<string, string> = {};
  try {
    times = JSON.parse(secret.annotations?.[KEY_TIMES] ?? '{}') as Record<string, string>;
  } catch {
    times = {};
  }
  const timeOf = (id: string) => Date.parse(times[id] ?? secret.createdAt ?? now) || 0;
  return [...ids].sort((a, b) => timeOf(a) - timeOf(b) || a.localeCompare(b, 'en', { numeric: true })).pop() ?? '';
}

/**
 * The generated Secret as it should be now: a new sealing key when the current one is older than the
 * rotation period, and without keys that stopped sealing more than the token maximum age ago (no
 * token they sealed is still taken). Undefined when nothing changes.
 */
function rotated(secret: KeySecret, r: TrackingDomainResource, input: TrackingDomainInput): { secret: KeySecret; added?: string; removed: string[] } | undefined {
  const now = Date.parse(input.now);
  let times: Record<string, string> = {};
  try {
    times = JSON.parse(secret.annotations?.[KEY_TIMES] ?? '{}') as Record<string, string>;
  } catch {
    times = {};
  }
  const ids = Object.keys(secret.data);
  const timeOf = (id: string) => Date.parse(times[id] ?? secret.createdAt ?? input.now) || now;
  let sealing = generatedSealingKey(secret, input.now);
  const data = { ...secret.data };
  const nextTimes: Record<string, string> = Object.fromEntries(ids.map((id) => [id, new Date(timeOf(id)).toISOString()]));
  let added: string | undefined;
  const every = r.spec.keyRotation?.everyDays ?? DEFAULT_ROTATION_DAYS;
  if (every > 0 && now - timeOf(sealing) >= every * DAY_MS) {
    const n = Math.max(0, ...ids.map((id) => Number(/^k(\d{1,6})$/.exec(id)?.[1] ?? 0))) + 1;
    added = `k${n}`;
    data[added] = input.newKey();
    nextTimes[added] = new Date(now).toISOString();
    sealing = added;
  }
  // A key stopped sealing when the next one was made; past the token maximum age nothing it sealed is taken.
  const removed: string[] = [];
  if (input.tokenMaxAgeDays > 0) {
    const order = Object.keys(nextTimes).sort((a, b) => Date.parse(nextTimes[a]!) - Date.parse(nextTimes[b]!) || a.localeCompare(b, 'en', { numeric: true }));
    for (let i = 0; i < order.length - 1; i++) {
      const id = order[i]!;
      if (id === sealing) continue;
      if (now - Date.parse(nextTimes[order[i + 1]!]!) > input.tokenMaxAgeDays * DAY_MS) {
        removed.push(id);
        delete data[id];
        delete nextTimes[id];
      }
    }
  }
  const annotations = { ...secret.annotations, [KEY_TIMES]: JSON.stringify(nextTimes), [SEALING_KEY]: sealing };
  if (!added && removed.length === 0 && sameJson(annotations, secret.annotations ?? {})) return undefined;
  return { secret: { ...secret, data, annotations }, ...(added ? { added } : {}), removed };
}

/**
 * What to do for a TrackingDomain, given everything observed. Pure and level-triggered: the same
 * observations always give the same actions, and applying them twice changes nothing. The status
 * written assumes the actions succeed; the runtime reports a failed action on the next pass.
 */
export function decideTrackingDomain(input: TrackingDomainInput): TrackingDomainAction[] {
  const r = input.resource;
  const actions: TrackingDomainAction[] = [];
  const routeKind = input.route.kind;

  if (r.deletionTimestamp) {
    if (!r.finalizers.includes(FINALIZER)) return [];
    const successor = owner({ ...input, all: input.all.filter((d) => d.uid !== r.uid) })?.spec.tenant;
    actions.push({ kind: 'deleteRoute', routeKind, name: routeName(r) });
    // Deregistering is scoped to this tenant (the configuration API removes the hostname only if it
    // is registered to it), so it never touches another tenant's registration. It is skipped when
    // another resource of the same tenant keeps claiming the hostname.
    if (successor !== r.spec.tenant) actions.push({ kind: 'deregister', hostname: r.spec.hostname, tenant: r.spec.tenant });
    actions.push({ kind: 'removeFinalizer' });
    return actions;
  }
  if (!r.finalizers.includes(FINALIZER)) actions.push({ kind: 'addFinalizer' });

  const conds: ConditionInput[] = [];
  const finish = (status: Omit<TrackingDomainStatus, 'conditions' | 'observedGeneration'>) => {
    // A reconcile that stopped early did not check the later steps: their conditions say so
    // (Unknown), rather than keep saying what an earlier generation found (a Routed=True for a
    // route since deleted, say).
    const ready = conds.find((c) => c.type === 'Ready');
    for (const type of STEP_CONDITIONS) {
      if (!conds.some((c) => c.type === type)) conds.push({ type, status: 'Unknown', reason: 'NotReached', message: `not checked: the reconcile stopped at ${ready?.reason ?? 'an earlier step'}` });
    }
    const next: TrackingDomainStatus = {
      ...status,
      observedGeneration: r.generation,
      conditions: setConditions(r.status?.conditions ?? [], conds, r.generation, input.now),
    };
    const current = { signingKeySecret: undefined, ...r.status };
    if (!sameJson(next, current)) actions.push({ kind: 'writeStatus', status: next });
    return actions;
  };

  // Invalid specs the schema cannot catch (the schema rejects most at admission).
  if (!isHostname(r.spec.hostname) || !isTenantId(r.spec.tenant)) {
    conds.push({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'hostname or tenant is not valid' });
    return finish({});
  }

  const holder = owner(input);
  if (holder && holder.uid !== r.uid) {
    const other = holder.spec.tenant === r.spec.tenant ? `${holder.name} of the same tenant` : `another tenant (${holder.name})`;
    conds.push({ type: 'Conflict', status: 'True', reason: 'HostnameClaimed', message: `${r.spec.hostname} is already claimed by ${other}` });
    conds.push({ type: 'Ready', status: 'False', reason: 'HostnameClaimed', message: 'nothing is routed or registered for a hostname claimed first by another resource' });
    conds.push({ type: 'Routed', status: 'False', reason: 'HostnameClaimed', message: `no route: ${r.spec.hostname} is claimed by ${other}` });
    conds.push({ type: 'Registered', status: 'False', reason: 'HostnameClaimed', message: `not registered for this resource: ${r.spec.hostname} is claimed by ${other}` });
    actions.push({ kind: 'deleteRoute', routeKind, name: routeName(r) });
    return finish({});
  }
  conds.push({ type: 'Conflict', status: 'False', reason: 'NoConflict', message: '' });

  let secret = input.keySecret;
  const secretName = r.spec.signingKeys?.secretName ?? generatedSecretName(r);
  if (!secret) {
    if (r.spec.signingKeys) {
      conds.push({ type: 'KeysReady', status: 'False', reason: 'SecretMissing', message: `Secret ${secretName} not found` });
      conds.push({ type: 'Ready', status: 'False', reason: 'SecretMissing', message: `waiting for Secret ${secretName}` });
      return finish({ signingKeySecret: secretName });
    }
    const known = input.registeredKeys?.filter((k) => k.id && k.secretBase64) ?? [];
    // The Secret is gone but stats still opens links with these keys: a fresh key would break every
    // link already mailed. The keys are put back as they are (their times start again now).
    const restored = known.some((k) => k.sealing);
    const keys = restored ? known : [{ id: 'k1', secretBase64: input.newKey(), sealing: true }];
    const at = new Date(input.now).toISOString();
    secret = {
      name: secretName,
      data: Object.fromEntries(keys.map((k) => [k.id, k.secretBase64])),
      annotations: { [KEY_TIMES]: JSON.stringify(Object.fromEntries(keys.map((k) => [k.id, at]))), [SEALING_KEY]: keys.find((k) => k.sealing)!.id },
      createdAt: input.now,
    };
    actions.push({ kind: 'createKeySecret', secret, ownerUid: r.uid, restored });
  }
  let rotatedAt = r.status?.keysRotatedAt;
  const generated = !r.spec.signingKeys;
  let keys = checkKeys(secret, generated ? generatedSealingKey(secret, input.now) : r.spec.signingKeys?.sealingKeyId);
  if (keys.ok && generated) {
    // The generated Secret is the operator's: it rotates it (a broken one is reported, not rotated).
    const next = rotated(secret, r, input);
    if (next) {
      secret = next.secret;
      actions.push({ kind: 'rotateKeys', secret, sealingKeyId: secret.annotations![SEALING_KEY]!, added: next.added, removed: next.removed });
      if (next.added) rotatedAt = input.now;
      keys = checkKeys(secret, secret.annotations![SEALING_KEY]);
    }
  }
  if (!keys.ok) {
    conds.push({ type: 'KeysReady', status: 'False', reason: keys.reason, message: keys.message });
    conds.push({ type: 'Ready', status: 'False', reason: keys.reason, message: keys.message });
    return finish({ signingKeySecret: secretName });
  }
  conds.push({ type: 'KeysReady', status: 'True', reason: 'KeysLoaded', message: `${keys.keys.length} key(s) from Secret ${secretName}` });

  actions.push({ kind: 'applyRoute', route: desiredRoute(r, input.route) });
  // A Gateway API route carries no certificate: TLS ends at the Gateway's listener, so spec.tls
  // cannot be applied there, and the condition says so instead of passing it over in silence.
  const gateway = gatewayRef(input.route);
  const tlsNote =
    routeKind === 'gateway' && r.spec.tls
      ? `; spec.tls is not applied with Gateway API routes: TLS for ${r.spec.hostname} is the listener's of Gateway ${gateway.namespace ? `${gateway.namespace}/` : ''}${gateway.name}`
      : '';
  conds.push({ type: 'Routed', status: 'True', reason: routeKind === 'gateway' ? 'HTTPRouteApplied' : 'IngressApplied', message: `${r.spec.hostname} routed to ${input.route.collectorService}${tlsNote}` });
  actions.push({ kind: 'register', hostname: r.spec.hostname, tenant: r.spec.tenant, keys: keys.keys });
  conds.push({ type: 'Registered', status: 'True', reason: 'Registered', message: 'the collector serves this hostname' });
  conds.push({ type: 'Ready', status: 'True', reason: 'Ready', message: '' });
  const sealingKeyId = keys.keys.find((k) => k.sealing)!.id;
  return finish({ signingKeySecret: secretName, sealingKeyId, ...(rotatedAt ? { keysRotatedAt: rotatedAt } : {}) });
}
