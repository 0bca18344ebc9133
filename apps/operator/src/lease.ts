import type { Kube } from './kube';
import { statusOf } from './kube';

const DURATION_S = 15;

/**
 * One active replica: a coordination.k8s.io Lease held by this identity, renewed every few
 * seconds; another replica takes over when it has not been renewed for DURATION_S.
 */
export class LeaderLease {
  leader = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly kube: Kube,
    private readonly name: string,
    private readonly identity: string,
    private readonly onChange: (leader: boolean) => void,
  ) {}

  async tick(): Promise<void> {
    const now = new Date();
    let lease: any;
    try {
      lease = await this.kube.coordination.readNamespacedLease({ name: this.name, namespace: this.kube.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: DURATION_S, renewTime: now.toISOString() as unknown as Date };
    let won = false;
    if (!lease) {
      try {
        await this.kube.coordination.createNamespacedLease({ namespace: this.kube.namespace, body: { metadata: { name: this.name }, spec: { ...spec, acquireTime: spec.renewTime } } });
        won = true;
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
    } else {
      const holder = lease.spec?.holderIdentity;
      const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      const expired = now.getTime() - renewed > (lease.spec?.leaseDurationSeconds ?? DURATION_S) * 1000;
      if (holder === this.identity || expired || !holder) {
        try {
          await this.kube.coordination.replaceNamespacedLease({ name: this.name, namespace: this.kube.namespace, body: { ...lease, spec: { ...lease.spec, ...spec } } });
          won = true;
        } catch (err) {
          if (statusOf(err) !== 409) throw err; // someone else renewed first
        }
      }
    }
    if (won !== this.leader) {
      this.leader = won;
      this.onChange(won);
    }
  }

  start(everyMs = 5_000): void {
    const loop = () =>
      this.tick()
        .catch(() => {
          if (this.leader) {
            this.leader = false;
            this.onChange(false);
          }
        })
        .finally(() => (this.timer = setTimeout(loop, everyMs)));
    void loop();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
