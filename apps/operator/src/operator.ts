import { makeInformer, type Informer, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { OperatorConfig } from '@winnow/config';
import type { ClientOf } from '@winnow/grpc';
import type { ConfigService } from '@winnow/proto';
import {
  FINALIZER,
  decideSuppressionSetting,
  decideTrackingDomain,
  generatedSecretName,
  type SuppressionSettingResource,
  type TrackingDomainAction,
  type TrackingDomainResource,
} from '@winnow/reconcile';
import { randomBytes } from 'node:crypto';
import { GROUP, VERSION, type Kube } from './kube';
import { LeaderLease } from './lease';

type Cr = KubernetesObject & { spec?: any; status?: any };
type Kind = 'trackingdomains' | 'suppressionsettings';

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
  private readonly queue = new Map<string, { attempts: number; notBefore: number }>();
  private readonly lease: LeaderLease;
  private worker?: NodeJS.Timeout;
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
  ) {
    const registers = [registry];
    this.reconciles = new Counter({ name: 'winnow_operator_reconciles_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers });
    this.duration = new Histogram({ name: 'winnow_operator_reconcile_duration_seconds', help: 'Reconcile duration', labelNames: ['kind'], registers });
    this.leaderGauge = new Gauge({ name: 'winnow_operator_leader', help: '1 while this replica holds the Lease', registers });
    this.restarts = new Counter({ name: 'winnow_operator_watch_restarts_total', help: 'Watches restarted after an error', labelNames: ['kind'], registers });
    this.lease = new LeaderLease(kube, 'winnow-operator', cfg.identity, (leader) => {
      this.leaderGauge.set(leader ? 1 : 0);
      if (leader) this.enqueueAll();
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
      informer.on('add', enqueue);
      informer.on('update', enqueue);
      informer.on('delete', (o: Cr) => {
        enqueue(o);
        // Other resources may have been waiting on this one (a hostname or tenant it held).
        this.enqueueAll();
      });
      informer.on('error', () => {
        if (this.stopped) return;
        this.restarts.inc({ kind });
        setTimeout(() => void informer.start().catch(() => undefined), 1_000);
      });
      this.informers.set(kind, informer);
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
    this.lease.stop();
    for (const i of this.informers.values()) await i.stop();
    while (this.busy) await new Promise((ok) => setTimeout(ok, 20));
  }

  private enqueue(kind: Kind, name: string): void {
    const key = `${kind}/${name}`;
    const cur = this.queue.get(key);
    this.queue.set(key, { attempts: cur?.attempts ?? 0, notBefore: Math.min(cur?.notBefore ?? 0, Date.now()) });
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
      if (kind === 'trackingdomains') await this.reconcileTrackingDomain(name);
      else await this.reconcileSuppression(name);
      this.reconciles.inc({ kind, result: 'ok' });
    } catch {
      this.reconciles.inc({ kind, result: 'error' });
      const attempts = state.attempts + 1;
      if (!this.queue.has(key)) this.queue.set(key, { attempts, notBefore: Date.now() + Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (attempts - 1)) });
    } finally {
      end();
      this.busy = false;
    }
  }

  private async reconcileTrackingDomain(name: string): Promise<void> {
    const inf = this.informers.get('trackingdomains')!;
    const o = inf.get(name, this.cfg.namespace);
    if (!o) return;
    const resource: TrackingDomainResource = { ...meta(o), namespace: this.cfg.namespace, spec: o.spec, ...(o.status ? { status: o.status } : {}) };
    const secretName = resource.spec.signingKeys?.secretName ?? generatedSecretName(resource);
    const data = await this.kube.readSecret(secretName);
    const actions = decideTrackingDomain({
      resource,
      keySecret: data ? { name: secretName, data } : undefined,
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
    });
    for (const a of actions) await this.runTrackingDomain(a, resource);
  }

  private async runTrackingDomain(a: TrackingDomainAction, r: TrackingDomainResource): Promise<void> {
    switch (a.kind) {
      case 'addFinalizer':
        return void (await this.kube.patch('trackingdomains', r.name, { metadata: { finalizers: [...r.finalizers, FINALIZER] } }));
      case 'removeFinalizer':
        return void (await this.kube.patch('trackingdomains', r.name, { metadata: { finalizers: r.finalizers.filter((f) => f !== FINALIZER) } }));
      case 'createKeySecret':
        return this.kube.createSecret({
          metadata: {
            name: a.secret.name,
            labels: { 'app.kubernetes.io/managed-by': 'winnow-operator' },
            ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: 'TrackingDomain', name: r.name, uid: a.ownerUid, controller: true, blockOwnerDeletion: true }],
          },
          type: 'Opaque',
          data: a.secret.data,
        });
      case 'applyRoute':
        return this.kube.applyRoute(a.route);
      case 'deleteRoute':
        return this.kube.deleteRoute(a.routeKind, a.name);
      case 'register':
        return void (await this.config.putTrackingDomain({
          domain: { hostname: a.hostname, tenant: a.tenant, keys: a.keys.map((k) => ({ id: k.id, secret: Buffer.from(k.secretBase64, 'base64'), sealing: k.sealing })) },
        }));
      case 'deregister':
        return void (await this.config.deleteTrackingDomain({ hostname: a.hostname, tenant: a.tenant }));
      case 'writeStatus':
        return void (await this.kube.patchStatus('trackingdomains', r.name, a.status));
    }
  }

  private async reconcileSuppression(name: string): Promise<void> {
    const inf = this.informers.get('suppressionsettings')!;
    const o = inf.get(name, this.cfg.namespace);
    if (!o) return;
    const resource: SuppressionSettingResource = { ...meta(o), spec: o.spec, ...(o.status ? { status: o.status } : {}) };
    const all = inf.list(this.cfg.namespace).map((x) => ({ ...meta(x), spec: x.spec }));
    for (const a of decideSuppressionSetting(resource, all, new Date().toISOString())) {
      if (a.kind === 'addFinalizer') await this.kube.patch('suppressionsettings', name, { metadata: { finalizers: [...resource.finalizers, FINALIZER] } });
      else if (a.kind === 'removeFinalizer') await this.kube.patch('suppressionsettings', name, { metadata: { finalizers: resource.finalizers.filter((f) => f !== FINALIZER) } });
      else if (a.kind === 'pushPolicy') await this.config.putSuppressionPolicy({ policy: a.policy });
      else await this.kube.patchStatus('suppressionsettings', name, a.status);
    }
  }
}
