import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Ingress,
} from '@kubernetes/client-node';

export const GROUP = 'winnow.dev';
export const VERSION = 'v1alpha1';

/** HTTP status of a failed API call (client-node's ApiException), or undefined. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

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

  async readSecret(name: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.core.readNamespacedSecret({ name, namespace: this.namespace })).data ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async createSecret(body: object): Promise<void> {
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (statusOf(err) !== 409) throw err; // already there: level-triggered, nothing to do
    }
  }

  /** Creates or replaces an Ingress or HTTPRoute so it matches `desired`. */
  async applyRoute(desired: Record<string, any>): Promise<void> {
    const name = desired['metadata']['name'] as string;
    if (desired['kind'] === 'Ingress') {
      let current: V1Ingress | undefined;
      try {
        current = await this.networking.readNamespacedIngress({ name, namespace: this.namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      if (!current) return void (await this.networking.createNamespacedIngress({ namespace: this.namespace, body: desired }));
      if (JSON.stringify(current.spec) === JSON.stringify(desired['spec']) && JSON.stringify(current.metadata?.annotations ?? {}) === JSON.stringify(desired['metadata']['annotations'] ?? {})) return;
      await this.networking.replaceNamespacedIngress({ name, namespace: this.namespace, body: { ...desired, metadata: { ...desired['metadata'], resourceVersion: current.metadata?.resourceVersion } } });
      return;
    }
    const api = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: this.namespace, plural: 'httproutes' };
    let current: any;
    try {
      current = await this.custom.getNamespacedCustomObject({ ...api, name });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!current) return void (await this.custom.createNamespacedCustomObject({ ...api, body: desired }));
    if (JSON.stringify(current.spec) === JSON.stringify(desired['spec'])) return;
    await this.custom.replaceNamespacedCustomObject({ ...api, name, body: { ...desired, metadata: { ...desired['metadata'], resourceVersion: current.metadata?.resourceVersion } } });
  }

  async deleteRoute(kind: 'ingress' | 'gateway', name: string): Promise<void> {
    try {
      if (kind === 'ingress') await this.networking.deleteNamespacedIngress({ name, namespace: this.namespace });
      else await this.custom.deleteNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: this.namespace, plural: 'httproutes', name });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }
}
