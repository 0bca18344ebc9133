import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  ListWatch,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Ingress,
} from '@kubernetes/client-node';
import { covers, sameJson } from '@winnow/reconcile';

export const GROUP = 'winnow.dev';
export const VERSION = 'v1alpha1';

/** HTTP status of a failed API call (client-node's ApiException), or undefined. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** How long after the last of them the same Event is counted on again (client-go's correlator: 10 minutes). */
export const EVENT_SERIES_MS = 10 * 60_000;

/** Label the operator puts on its routes (libs/reconcile); its route watch selects on it. */
export const ROUTE_SELECTOR = 'app.kubernetes.io/managed-by=winnow-operator';

// The API server's metadata-only views (PartialObjectMetadata, Kubernetes 1.15+): the objects come
// without their body, so a Secret's data never reaches the operator through its list and watch.
const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/** Longest list answer the metadata list reads (a namespace of tens of thousands of objects fits). */
const MAX_LIST_BYTES = 64 * 1024 * 1024;
/** The headers client-node's applyToFetchOptions gives (node-fetch's Headers). */
type FetchHeaders = { forEach(cb: (value: string, name: string) => void): void; set(name: string, value: string): void };

/**
 * What the operator keeps of an object it watches only to learn that it changed: its name, version,
 * labels and owners. Not its annotations: `kubectl apply` copies a Secret's whole data, in clear,
 * into `kubectl.kubernetes.io/last-applied-configuration`. Not its managed fields.
 */
export function keptMetadata(o: KubernetesObject): KubernetesObject {
  const m = o.metadata ?? {};
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
    },
  };
}

/** The client's request options (credentials, CA, agent) for one GET, asking for `accept`. */
async function getJson(kc: KubeConfig, path: string, accept: string): Promise<unknown> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('No currently active cluster');
  const url = new URL(server + path);
  const init = await kc.applyToFetchOptions({});
  const headers: Record<string, string> = {};
  (init.headers as unknown as FetchHeaders | undefined)?.forEach((v, k) => (headers[k] = v));
  headers['accept'] = accept;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers, agent: init.agent as HttpAgent | undefined, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_LIST_BYTES) return req.destroy(new Error(`GET ${url.pathname}: answer over ${MAX_LIST_BYTES} bytes`));
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          // The same shape as client-node's errors, so the informer's error path treats it alike.
          const err = Object.assign(new Error(`GET ${url.pathname}: HTTP ${res.statusCode} ${text.slice(0, 200)}`), { statusCode: res.statusCode, code: res.statusCode });
          return reject(err);
        }
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(new Error(`GET ${url.pathname}: the answer is not JSON (${(e as Error).message})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: no answer within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * An informer that lists and watches only the metadata of the objects at `path` (a namespaced
 * collection) and keeps only `keptMetadata` of each: for objects whose body the operator reads, when
 * it needs it, with a GET of that one object (a Secret a TrackingDomain names).
 */
export function metadataInformer(kc: KubeConfig, path: string): Informer<KubernetesObject> & ObjectCache<KubernetesObject> {
  const metadataKc = Object.create(kc) as KubeConfig;
  metadataKc.applyToFetchOptions = async (opts) => {
    const init = await kc.applyToFetchOptions(opts);
    (init.headers as unknown as FetchHeaders).set('accept', METADATA_ACCEPT);
    return init;
  };
  const real = new Watch(metadataKc);
  const watch = {
    watch: (p: string, params: Record<string, string | number | boolean | undefined>, cb: (phase: string, obj: any, raw: any) => void, done: (err: any) => void) =>
      real.watch(p, params, (phase, obj: KubernetesObject, raw) => cb(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? keptMetadata(obj) : obj, raw), done),
  } as Watch;
  const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const l = (await getJson(kc, path, METADATA_LIST_ACCEPT)) as KubernetesListObject<KubernetesObject>;
    return { ...l, items: (l.items ?? []).map(keptMetadata) };
  };
  return new ListWatch(path, watch, list, false);
}

/** The few Kubernetes calls the operator makes, in one place, through the real client. */
export class Kube {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly networking: NetworkingV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(
    readonly kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  list(plural: string): Promise<{ items: unknown[]; metadata?: { resourceVersion?: string } }> {
    return this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural });
  }

  patch(plural: string, name: string, body: object): Promise<unknown> {
    return this.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural, name, body }, merge);
  }

  patchStatus(plural: string, name: string, status: object): Promise<unknown> {
    return this.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace: this.namespace, plural, name, body: { status } }, merge);
  }

  listRoutes(kind: 'ingress' | 'gateway'): Promise<{ items: unknown[] }> {
    if (kind === 'ingress') return this.networking.listNamespacedIngress({ namespace: this.namespace, labelSelector: ROUTE_SELECTOR });
    return this.custom.listNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: this.namespace, plural: 'httproutes', labelSelector: ROUTE_SELECTOR }) as never;
  }

  /** Events written lately, by what they say: the same one again is counted on it, not written anew. */
  private readonly recentEvents = new Map<string, { name: string; count: number; at: number }>();

  /**
   * A core/v1 Event on one of the operator's resources (what `kubectl describe` shows). The same event
   * (object, type, reason and message) within EVENT_SERIES_MS of the last one is counted on that one
   * (`count` and `lastTimestamp`, as client-go's event recorder does) instead of written anew, so a
   * resource failing the same way on every retry has one Event that says how often, not one per try.
   */
  async recordEvent(
    on: { apiVersion: string; kind: string; name: string; uid: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    instance: string,
  ): Promise<void> {
    const now = new Date();
    const key = [on.uid, type, reason, message].join('\u0000');
    const seen = this.recentEvents.get(key);
    if (seen && now.getTime() - seen.at < EVENT_SERIES_MS) {
      try {
        await this.core.patchNamespacedEvent({ name: seen.name, namespace: this.namespace, body: { count: seen.count + 1, lastTimestamp: now } }, merge);
        seen.count++;
        seen.at = now.getTime();
        return;
      } catch (err) {
        // Gone (Events expire, an hour by default, or someone deleted it): write a new one.
        if (statusOf(err) !== 404) throw err;
      }
    }
    const name = `${on.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.core.createNamespacedEvent({
      namespace: this.namespace,
      body: {
        metadata: { name, namespace: this.namespace },
        involvedObject: { apiVersion: on.apiVersion, kind: on.kind, name: on.name, namespace: this.namespace, uid: on.uid },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'winnow-operator' },
        reportingComponent: 'winnow.dev/operator',
        reportingInstance: instance,
      },
    });
    for (const [k, v] of this.recentEvents) if (now.getTime() - v.at >= EVENT_SERIES_MS) this.recentEvents.delete(k);
    this.recentEvents.set(key, { name, count: 1, at: now.getTime() });
  }

  async readSecret(name: string): Promise<{ data: Record<string, string>; annotations: Record<string, string>; createdAt?: string; resourceVersion?: string } | undefined> {
    try {
      const s = await this.core.readNamespacedSecret({ name, namespace: this.namespace });
      const created = s.metadata?.creationTimestamp;
      return {
        data: s.data ?? {},
        annotations: s.metadata?.annotations ?? {},
        ...(created ? { createdAt: new Date(created).toISOString() } : {}),
        ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Writes a Secret's keys and annotations, only over the version the reconcile read: the replace
   * carries that resourceVersion, so the API server answers 409 if another writer came in between,
   * and the reconcile runs again on what is there then. The rest of the object is kept as it is.
   */
  async updateSecret(name: string, data: Record<string, string>, annotations: Record<string, string>, resourceVersion: string | undefined): Promise<void> {
    const current = await this.core.readNamespacedSecret({ name, namespace: this.namespace });
    const metadata = { ...current.metadata, annotations: { ...current.metadata?.annotations, ...annotations }, ...(resourceVersion ? { resourceVersion } : {}) };
    await this.core.replaceNamespacedSecret({ name, namespace: this.namespace, body: { ...current, metadata, data } });
  }

  /** Creates the Secret; false when it was there already (level-triggered: nothing to do). */
  async createSecret(body: object): Promise<boolean> {
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
      return true;
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      return false;
    }
  }

  /** Creates or replaces an Ingress or HTTPRoute so it matches `desired`; false when it did already. */
  async applyRoute(desired: Record<string, any>): Promise<boolean> {
    const name = desired['metadata']['name'] as string;
    if (desired['kind'] === 'Ingress') {
      let current: V1Ingress | undefined;
      try {
        current = await this.networking.readNamespacedIngress({ name, namespace: this.namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      if (!current) {
        await this.networking.createNamespacedIngress({ namespace: this.namespace, body: desired });
        return true;
      }
      if (covers(current.spec, desired['spec']) && sameJson(current.metadata?.annotations ?? {}, desired['metadata']['annotations'] ?? {})) return false;
      await this.networking.replaceNamespacedIngress({ name, namespace: this.namespace, body: { ...desired, metadata: { ...desired['metadata'], resourceVersion: current.metadata?.resourceVersion } } });
      return true;
    }
    const api = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: this.namespace, plural: 'httproutes' };
    let current: any;
    try {
      current = await this.custom.getNamespacedCustomObject({ ...api, name });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!current) {
      await this.custom.createNamespacedCustomObject({ ...api, body: desired });
      return true;
    }
    if (covers(current.spec, desired['spec'])) return false;
    await this.custom.replaceNamespacedCustomObject({ ...api, name, body: { ...desired, metadata: { ...desired['metadata'], resourceVersion: current.metadata?.resourceVersion } } });
    return true;
  }

  /** Deletes an Ingress or HTTPRoute; false when it was gone already. */
  async deleteRoute(kind: 'ingress' | 'gateway', name: string): Promise<boolean> {
    try {
      if (kind === 'ingress') await this.networking.deleteNamespacedIngress({ name, namespace: this.namespace });
      else await this.custom.deleteNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: this.namespace, plural: 'httproutes', name });
      return true;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return false;
    }
  }
}
