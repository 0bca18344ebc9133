import { makeInformer, type Informer, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { LoggerService } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { OperatorConfig } from '@winnow/config';
import type { ClientOf } from '@winnow/grpc';
import type { ConfigService } from '@winnow/proto';
import {
  FINALIZER,
  decideSuppressionSetting,
  decideTrackingDomain,
  generatedSecretName,
  setConditions,
  type Condition,
  type SuppressionSettingResource,
  type TrackingDomainAction,
  type TrackingDomainResource,
} from '@winnow/reconcile';
import { randomBytes } from 'node:crypto';
import { GROUP, ROUTE_SELECTOR, VERSION, metadataInformer, type Kube } from './kube';
import { LeaderLease } from './lease';

type Cr = KubernetesObject & { spec?: any; status?: any };
type Kind = 'trackingdomains' | 'suppressionsettings';
/** Objects the operator makes for a TrackingDomain, watched so a change or deletion re-queues their owner. */
type Owned = 'secrets' | 'routes';

const TD_KIND = { apiVersion: `${GROUP}/${VERSION}`, kind: 'TrackingDomain' };
const SS_KIND = { apiVersion: `${GROUP}/${VERSION}`, kind: 'SuppressionSetting' };

/** A short, safe account of a failed call for logs and Events (client-node errors carry the whole response). */
export function describeError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let body = '';
  if (typeof e.body === 'string') {
    try {
      body = (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      body = e.body;
    }
  } else if (e.body && typeof e.body === 'object') body = (e.body as { message?: string }).message ?? '';
  const text = body || e.message || String(err);
  return (typeof e.code === 'number' ? `HTTP ${e.code}: ${text}` : text).slice(0, 500);
}

/** Actions worth an Event on the TrackingDomain (the rest are bookkeeping: finalizers, status). */
const TD_EVENTS: Partial<Record<TrackingDomainAction['kind'], [string, (a: any) => string]>> = {
  createKeySecret: ['KeySecretCreated', (a) => (a.restored ? `Secret ${a.secret.name} was missing: made again from the keys stats holds (${Object.keys(a.secret.data).join(', ')}), so mailed links keep opening` : `generated signing keys in Secret ${a.secret.name}`)],
  rotateKeys: ['KeysRotated', (a) => `Secret ${a.secret.name}: ${a.added ? `new sealing key ${a.added}` : `sealing key ${a.sealingKeyId}`}${a.removed.length ? `; removed ${a.removed.join(', ')} (past the token maximum age)` : ''}`],
  applyRoute: ['RouteApplied', (a) => `${a.route.kind} ${a.route.metadata.name} routes the host to the collector`],
  deleteRoute: ['RouteDeleted', (a) => `deleted ${a.routeKind === 'ingress' ? 'Ingress' : 'HTTPRoute'} ${a.name}`],
  register: ['Registered', (a) => `${a.hostname} registered for tenant ${a.tenant} with ${a.keys.length} key(s)`],
  deregister: ['Deregistered', (a) => `${a.hostname} removed from tenant ${a.tenant}`],
};

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 30_000;

function meta(o: Cr) {
  const m = o.metadata!;
  return {
    name: m.name!,
    uid: m.uid!,
    generation: m.generation ?? 1,
    creationTimestamp: new Date(m.creationTimestamp as unknown as string).toISOString(),
    ...(m.deletionTimestamp ? { deletionTimestamp: new Date(m.deletionTimestamp as unknown as string).toISOString() } : {}),
    finalizers: m.finalizers ?? [],
  };
}

/**
 * Informers feed a work queue of resource keys; while this replica holds the Lease, a worker
 * reconciles one key at a time with the pure decisions of @winnow/reconcile and carries out their
 * actions. Failures are retried with exponential backoff; everything is re-reconciled every
 * WINNOW_RESYNC_MS; an informer that stops on an error is restarted.
 */
export class Operator {
  private readonly informers = new Map<Kind, Informer<Cr> & ObjectCache<Cr>>();
  /** Informers on what it owns (Secrets, routes): only their events matter, so they are kept to be stopped. */
  private readonly owned: Array<Informer<Cr>> = [];
  private readonly queue = new Map<string, { attempts: number; notBefore: number }>();
  /** The generation each failing key failed at (cleared when it reconciles). */
  private readonly failedGeneration = new Map<string, number>();
  private readonly lease: LeaderLease;
  private worker?: NodeJS.Timeout;
  /** Watches waiting to be restarted after an error. */
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private resync?: NodeJS.Timeout;
  private busy = false;
  private stopped = false;
  private readonly reconciles: Counter<'kind' | 'result'>;
  private readonly duration: Histogram<'kind'>;
  private readonly leaderGauge: Gauge;
  private readonly restarts: Counter<'kind'>;

  constructor(
    private readonly cfg: OperatorConfig,
    private readonly kube: Kube,
    private readonly config: ClientOf<typeof ConfigService>,
    registry: Registry,
    private readonly log: LoggerService,
  ) {
    const registers = [registry];
    this.reconciles = new Counter({ name: 'winnow_operator_reconciles_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers });
    this.duration = new Histogram({ name: 'winnow_operator_reconcile_duration_seconds', help: 'Reconcile duration', labelNames: ['kind'], registers });
    this.leaderGauge = new Gauge({ name: 'winnow_operator_leader', help: '1 while this replica holds the Lease', registers });
    this.restarts = new Counter({ name: 'winnow_operator_watch_restarts_total', help: 'Watches restarted after an error', labelNames: ['kind'], registers });
    this.lease = new LeaderLease(kube, 'winnow-operator', cfg.identity, {
      onChange: (leader) => {
        this.leaderGauge.set(leader ? 1 : 0);
        this.log.log({ msg: leader ? 'became leader' : 'lost leadership', identity: cfg.identity });
        if (leader) this.enqueueAll();
      },
      onError: (err) => this.log.error({ msg: 'lease error', identity: cfg.identity, error: describeError(err) }),
    });
  }

  get isLeader(): boolean {
    return this.lease.leader;
  }

  async start(leaseEveryMs = 5_000): Promise<void> {
    for (const kind of ['trackingdomains', 'suppressionsettings'] as const) {
      const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.cfg.namespace}/${kind}`;
      const informer = makeInformer<Cr>(this.kube.kc, path, () => this.kube.list(kind) as never);
      const enqueue = (o: Cr) => this.enqueue(kind, o.metadata!.name!);
      // The resource's own add or update says which generation it is at: a new spec is tried at once,
      // even while the old one waits out its backoff.
      const own = (o: Cr) => this.enqueue(kind, o.metadata!.name!, Number(o.metadata?.generation ?? 0));
      informer.on('add', own);
      informer.on('update', own);
      informer.on('delete', (o: Cr) => {
        enqueue(o);
        // Other resources may have been waiting on this one (a hostname or tenant it held).
        this.enqueueAll();
      });
      this.restartOnError(informer, kind);
      this.informers.set(kind, informer);
      await informer.start();
    }
    // What it owns: its key Secrets (and the Secrets a TrackingDomain names), and its routes. Of the
    // Secrets it watches only the metadata (no data, no annotations): a reconcile reads the one
    // Secret it needs (decision 51).
    const secrets = metadataInformer(this.kube.kc, `/api/v1/namespaces/${this.cfg.namespace}/secrets`) as Informer<Cr>;
    const routePath =
      this.cfg.routeKind === 'ingress'
        ? `/apis/networking.k8s.io/v1/namespaces/${this.cfg.namespace}/ingresses`
        : `/apis/gateway.networking.k8s.io/v1/namespaces/${this.cfg.namespace}/httproutes`;
    const routes = makeInformer<Cr>(this.kube.kc, routePath, () => this.kube.listRoutes(this.cfg.routeKind) as never, ROUTE_SELECTOR);
    for (const [kind, informer] of [['secrets', secrets], ['routes', routes]] as const) {
      const owner = (o: Cr) => this.enqueueOwnersOf(kind, o);
      informer.on('add', owner);
      informer.on('update', owner);
      informer.on('delete', owner);
      this.restartOnError(informer, kind);
      this.owned.push(informer);
      await informer.start();
    }
    this.lease.start(leaseEveryMs);
    this.resync = setInterval(() => this.enqueueAll(), this.cfg.resyncMs);
    this.worker = setInterval(() => void this.work(), 50);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.worker);
    clearInterval(this.resync);
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    // The reconcile in hand finishes before the Lease is given up, so two replicas never work at once.
    while (this.busy) await new Promise((ok) => setTimeout(ok, 20));
    await this.lease.stop();
    for (const i of [...this.informers.values(), ...this.owned]) await i.stop();
  }

  private restartOnError(informer: Informer<Cr>, kind: string): void {
    informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.restarts.inc({ kind });
      this.log.warn({ msg: 'watch failed, restarting in 1 s', kind, error: describeError(err) });
      // Cleared at stop: a restart due after it would open a list and watch again on a stopped operator.
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        if (this.stopped) return;
        void informer.start().catch((e: unknown) => this.log.error({ msg: 'watch restart failed', kind, error: describeError(e) }));
      }, 1_000);
      this.restartTimers.add(timer);
    });
  }

  /** Re-queues the TrackingDomains an owned object belongs to (by owner reference, label or the Secret they name). */
  private enqueueOwnersOf(kind: Owned, o: Cr): void {
    const tds = this.informers.get('trackingdomains');
    if (!tds) return;
    const name = o.metadata?.name;
    if (kind === 'routes') {
      const owner = o.metadata?.labels?.['winnow.dev/tracking-domain'];
      if (owner) this.enqueue('trackingdomains', owner, undefined, true);
      return;
    }
    for (const ref of o.metadata?.ownerReferences ?? []) if (ref.kind === 'TrackingDomain') this.enqueue('trackingdomains', ref.name, undefined, true);
    for (const td of tds.list(this.cfg.namespace)) {
      const named = td.spec?.signingKeys?.secretName ?? generatedSecretName({ name: td.metadata!.name! });
      if (named === name) this.enqueue('trackingdomains', td.metadata!.name!, undefined, true);
    }
  }

  /**
   * Queues a reconcile. A key waiting out the backoff of a failure keeps waiting, whatever wakes it
   * (a resync, a deletion elsewhere, its own status write), unless its spec changed since the failure
   * (`generation`) or an object it reads changed (`inputChanged`: its Secret, its route). Before
   * 2026-12 every resync and every deletion anywhere retried every failing resource at once, one
   * Warning Event each time, about one per 9 s instead of the 30 s cap.
   */
  private enqueue(kind: Kind, name: string, generation?: number, inputChanged = false): void {
    const key = `${kind}/${name}`;
    const cur = this.queue.get(key);
    const failedAt = this.failedGeneration.get(key);
    // A Secret or route it reads changed (someone created the missing Secret): also worth a try now.
    const newSpec = inputChanged || (generation !== undefined && failedAt !== undefined && generation !== failedAt);
    if (cur && cur.attempts > 0 && !newSpec) return;
    this.queue.set(key, newSpec ? { attempts: 0, notBefore: Date.now() } : { attempts: cur?.attempts ?? 0, notBefore: Math.min(cur?.notBefore ?? 0, Date.now()) });
  }

  private enqueueAll(): void {
    for (const [kind, inf] of this.informers) for (const o of inf.list(this.cfg.namespace)) this.enqueue(kind, o.metadata!.name!);
  }

  private async work(): Promise<void> {
    if (this.busy || !this.lease.leader || this.stopped) return;
    const now = Date.now();
    const next = [...this.queue.entries()].find(([, v]) => v.notBefore <= now);
    if (!next) return;
    const [key, state] = next;
    this.queue.delete(key);
    this.busy = true;
    const [kind, name] = key.split('/') as [Kind, string];
    const end = this.duration.startTimer({ kind });
    try {
      const did = kind === 'trackingdomains' ? await this.reconcileTrackingDomain(name) : await this.reconcileSuppression(name);
      this.reconciles.inc({ kind, result: 'ok' });
      this.failedGeneration.delete(key);
      if (did.length > 0) this.log.log({ msg: 'reconciled', kind, name, actions: did });
      else this.log.debug?.({ msg: 'reconciled, nothing to do', kind, name });
    } catch (err) {
      this.reconciles.inc({ kind, result: 'error' });
      const attempts = state.attempts + 1;
      const delayMs = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (attempts - 1));
      const error = describeError(err);
      this.log.error({ msg: 'reconcile failed', kind, name, attempts, retryInMs: delayMs, error });
      const o = this.informers.get(kind)?.get(name, this.cfg.namespace);
      if (o) await this.event(kind === 'trackingdomains' ? TD_KIND : SS_KIND, o, 'Warning', 'ReconcileFailed', error);
      if (o && !o.metadata?.deletionTimestamp) await this.failedStatus(kind, o, error);
      // The backoff stands even if something queued the key meanwhile (its own status write does);
      // a newer spec is tried at once (enqueue).
      this.failedGeneration.set(key, Number(o?.metadata?.generation ?? 0));
      this.queue.set(key, { attempts, notBefore: Date.now() + delayMs });
    } finally {
      end();
      this.busy = false;
    }
  }

  private async reconcileTrackingDomain(name: string): Promise<string[]> {
    const inf = this.informers.get('trackingdomains')!;
    const o = inf.get(name, this.cfg.namespace);
    if (!o) return [];
    const resource: TrackingDomainResource = { ...meta(o), namespace: this.cfg.namespace, spec: o.spec, ...(o.status ? { status: o.status } : {}) };
    const secretName = resource.spec.signingKeys?.secretName ?? generatedSecretName(resource);
    const found = await this.kube.readSecret(secretName);
    // Only when the operator would generate keys: what stats already opens links with for this host.
    const registeredKeys =
      !found && !resource.spec.signingKeys && !resource.deletionTimestamp
        ? ((await this.config.listTrackingDomains({})).domains
            .find((d) => d.hostname === resource.spec.hostname && d.tenant === resource.spec.tenant)
            ?.keys.map((k) => ({ id: k.id, secretBase64: Buffer.from(k.secret).toString('base64'), sealing: k.sealing })) ?? [])
        : undefined;
    const actions = decideTrackingDomain({
      ...(registeredKeys ? { registeredKeys } : {}),
      resource,
      keySecret: found ? { name: secretName, data: found.data, annotations: found.annotations, ...(found.createdAt ? { createdAt: found.createdAt } : {}) } : undefined,
      all: inf.list(this.cfg.namespace).map((x) => ({ ...meta(x), spec: x.spec })),
      route: {
        kind: this.cfg.routeKind,
        collectorService: this.cfg.collectorService,
        collectorPort: this.cfg.collectorServicePort,
        ...(this.cfg.ingressClassName ? { ingressClassName: this.cfg.ingressClassName } : {}),
        gateway: { name: this.cfg.gatewayName, ...(this.cfg.gatewayNamespace ? { namespace: this.cfg.gatewayNamespace } : {}) },
      },
      now: new Date().toISOString(),
      newKey: () => randomBytes(32).toString('base64'),
      tokenMaxAgeDays: this.cfg.tokenMaxAgeDays,
    });
    const did: string[] = [];
    for (const a of actions) {
      if (!(await this.runTrackingDomain(a, resource, found?.resourceVersion))) continue;
      did.push(a.kind);
      const said = TD_EVENTS[a.kind];
      if (said) await this.event(TD_KIND, o, 'Normal', said[0], said[1](a as never));
    }
    return did;
  }

  /**
   * A failed reconcile says so in status (`Ready=False, ReconcileFailed`, the error, this
   * generation) before the retry: the decision writes status last and assumes its actions succeed,
   * so without this a new resource showed no READY at all and one Ready before kept saying True for
   * a spec that was never applied. A status that cannot be written is logged, never fatal.
   */
  private async failedStatus(kind: Kind, o: Cr, error: string): Promise<void> {
    const current = (o.status ?? {}) as { conditions?: Condition[] };
    const generation = Number(o.metadata?.generation ?? 0);
    const message = error.slice(0, 1000);
    const ready = (current.conditions ?? []).find((c) => c.type === 'Ready');
    if (ready && ready.status === 'False' && ready.reason === 'ReconcileFailed' && ready.message === message && ready.observedGeneration === generation) return;
    const conditions = setConditions(current.conditions ?? [], [{ type: 'Ready', status: 'False', reason: 'ReconcileFailed', message }], generation, new Date().toISOString());
    try {
      await this.kube.patchStatus(kind, o.metadata!.name!, { conditions });
    } catch (err) {
      this.log.warn({ msg: 'could not write the failure to status', kind, name: o.metadata?.name, error: describeError(err) });
    }
  }

  /** Records a Kubernetes Event on the resource; an Event that cannot be written is logged, never fatal. */
  private async event(kind: { apiVersion: string; kind: string }, o: Cr, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    try {
      await this.kube.recordEvent({ ...kind, name: o.metadata!.name!, uid: o.metadata!.uid! }, type, reason, message, this.cfg.identity);
    } catch (err) {
      this.log.warn({ msg: 'could not record event', reason, error: describeError(err) });
    }
  }

  /** Carries out one action; true when it changed something in the cluster or in stats. */
  private async runTrackingDomain(a: TrackingDomainAction, r: TrackingDomainResource, secretVersion: string | undefined): Promise<boolean> {
    switch (a.kind) {
      case 'addFinalizer':
        await this.kube.patch('trackingdomains', r.name, { metadata: { finalizers: [...r.finalizers, FINALIZER] } });
        return true;
      case 'removeFinalizer':
        await this.kube.patch('trackingdomains', r.name, { metadata: { finalizers: r.finalizers.filter((f) => f !== FINALIZER) } });
        return true;
      case 'createKeySecret':
        return this.kube.createSecret({
          metadata: {
            name: a.secret.name,
            labels: { 'app.kubernetes.io/managed-by': 'winnow-operator' },
            ...(a.secret.annotations ? { annotations: a.secret.annotations } : {}),
            ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: 'TrackingDomain', name: r.name, uid: a.ownerUid, controller: true, blockOwnerDeletion: true }],
          },
          type: 'Opaque',
          data: a.secret.data,
        });
      case 'rotateKeys':
        await this.kube.updateSecret(a.secret.name, a.secret.data, a.secret.annotations ?? {}, secretVersion);
        // Bookkeeping alone (noting times on a Secret made before rotation) is no news.
        return a.added !== undefined || a.removed.length > 0;
      case 'applyRoute':
        return this.kube.applyRoute(a.route);
      case 'deleteRoute':
        return this.kube.deleteRoute(a.routeKind, a.name);
      case 'register': {
        await this.config.putTrackingDomain({
          domain: { hostname: a.hostname, tenant: a.tenant, keys: a.keys.map((k) => ({ id: k.id, secret: Buffer.from(k.secretBase64, 'base64'), sealing: k.sealing })) },
        });
        // Registration is repeated on every resync (stats may have lost it); it is news only when the
        // resource was not yet Ready for its current generation.
        const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
        return !(ready?.status === 'True' && r.status?.observedGeneration === r.generation);
      }
      case 'deregister':
        await this.config.deleteTrackingDomain({ hostname: a.hostname, tenant: a.tenant });
        return true;
      case 'writeStatus':
        await this.kube.patchStatus('trackingdomains', r.name, a.status);
        return true;
    }
  }

  private async reconcileSuppression(name: string): Promise<string[]> {
    const inf = this.informers.get('suppressionsettings')!;
    const o = inf.get(name, this.cfg.namespace);
    if (!o) return [];
    const resource: SuppressionSettingResource = { ...meta(o), spec: o.spec, ...(o.status ? { status: o.status } : {}) };
    const all = inf.list(this.cfg.namespace).map((x) => ({ ...meta(x), spec: x.spec }));
    const actions = decideSuppressionSetting(resource, all, new Date().toISOString());
    const did: string[] = [];
    // The policy is pushed on every resync (stats may have lost it); it is news when the status moves.
    const news = actions.some((a) => a.kind === 'writeStatus');
    for (const a of actions) {
      if (a.kind === 'addFinalizer') await this.kube.patch('suppressionsettings', name, { metadata: { finalizers: [...resource.finalizers, FINALIZER] } });
      else if (a.kind === 'removeFinalizer') await this.kube.patch('suppressionsettings', name, { metadata: { finalizers: resource.finalizers.filter((f) => f !== FINALIZER) } });
      else if (a.kind === 'pushPolicy') {
        await this.config.putSuppressionPolicy({ policy: a.policy });
        if (!news) continue;
        await this.event(SS_KIND, o, 'Normal', 'PolicyApplied', `suppression policy for tenant ${a.policy.tenant} sent to stats`);
      } else await this.kube.patchStatus('suppressionsettings', name, a.status);
      did.push(a.kind);
    }
    return did;
  }
}
