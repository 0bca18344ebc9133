import type { Kube } from './kube';
import { statusOf } from './kube';

const DURATION_S = 15;
/**
 * How long after its last successful renewal a holder still acts as leader (client-go's
 * RenewDeadline, 10 s against a 15 s lease): past it, the holder stops working even while a renewal
 * request still hangs, so that it has stopped before any other replica can take the Lease over.
 */
export const RENEW_DEADLINE_MS = 10_000;

/**
 * A Lease's `acquireTime` and `renewTime` are MicroTime: the API server accepts them only with six
 * fractional digits (`2006-01-02T15:04:05.000000Z07:00`); JavaScript dates carry three.
 */
export function microTime(t: Date | string | undefined): string | undefined {
  if (t === undefined) return undefined;
  const iso = typeof t === 'string' ? new Date(t).toISOString() : t.toISOString();
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** What the lease loop reports: a change of leadership, or an error it recovered from. */
export interface LeaseEvents {
  onChange(leader: boolean): void;
  onError(err: unknown): void;
}

/**
 * One active replica: a coordination.k8s.io Lease held by this identity, renewed every few
 * seconds; another replica takes over when it has not seen the Lease change for DURATION_S. As in
 * client-go's leader election, expiry is judged by when *this* replica last saw the holder's record
 * change (its local clock), never by comparing its clock with the renew time another node wrote.
 */
export class LeaderLease {
  /** Won at the last completed tick (or until the deadline says otherwise). */
  private won = false;
  /** When the last renewal that won started (a renewal's time is when its request was sent). */
  private renewedAtMs = 0;
  private timer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private stopped = false;
  /** The tick in flight, so that stopping waits for it instead of racing it. */
  private running?: Promise<void>;
  /** The holder's record as last seen, and when (local monotonic-ish time) it was first seen so. */
  private observed?: { record: string; atMs: number };

  constructor(
    private readonly kube: Kube,
    private readonly name: string,
    private readonly identity: string,
    private readonly events: LeaseEvents,
    private readonly now: () => number = () => performance.timeOrigin + performance.now(),
  ) {}

  /** Whether this replica may act as leader now: it won, and its last renewal is within the deadline. */
  get leader(): boolean {
    return this.won && this.now() - this.renewedAtMs < RENEW_DEADLINE_MS;
  }

  private setWon(won: boolean): void {
    if (won === this.won) return;
    this.won = won;
    this.events.onChange(won);
  }

  /** Steps down once the renew deadline passes without a renewal, whatever request is still pending. */
  private checkDeadline(): void {
    if (this.won && !this.leader) this.setWon(false);
  }

  async tick(): Promise<void> {
    const nowMs = this.now();
    let lease: any;
    try {
      lease = await this.kube.coordination.readNamespacedLease({ name: this.name, namespace: this.kube.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const renewTime = microTime(new Date(nowMs))!;
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: DURATION_S, renewTime };
    let won = false;
    if (!lease) {
      try {
        await this.kube.coordination.createNamespacedLease({ namespace: this.kube.namespace, body: { metadata: { name: this.name }, spec: { ...spec, acquireTime: renewTime } as never } });
        won = true;
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
    } else {
      const holder: string | undefined = lease.spec?.holderIdentity;
      const record = `${holder}|${microTime(lease.spec?.renewTime)}|${lease.metadata?.resourceVersion}`;
      if (this.observed?.record !== record) this.observed = { record, atMs: nowMs };
      const expired = nowMs - this.observed.atMs > (lease.spec?.leaseDurationSeconds ?? DURATION_S) * 1000;
      if (holder === this.identity || expired || !holder) {
        const acquireTime = holder === this.identity ? microTime(lease.spec?.acquireTime) ?? renewTime : renewTime;
        const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
        try {
          await this.kube.coordination.replaceNamespacedLease({
            name: this.name,
            namespace: this.kube.namespace,
            body: { ...lease, spec: { ...lease.spec, ...spec, acquireTime, leaseTransitions: transitions } },
          });
          won = true;
        } catch (err) {
          if (statusOf(err) !== 409) throw err; // someone else renewed first
        }
      }
    }
    if (won) this.renewedAtMs = nowMs;
    this.setWon(won && this.now() - nowMs < RENEW_DEADLINE_MS);
  }

  start(everyMs = 5_000): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .catch((err: unknown) => {
          this.events.onError(err);
          this.setWon(false);
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(loop, everyMs);
        });
    };
    this.watchdog = setInterval(() => this.checkDeadline(), 500);
    this.watchdog.unref?.();
    loop();
  }

  /**
   * Stops renewing. A holder that stops cleanly gives the Lease up (an empty holder, as client-go's
   * ReleaseOnCancel does), so that a waiting replica takes over at its next tick instead of after
   * the lease's whole duration; a replica that crashes leaves its record and is outwaited.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    await this.running;
    if (!this.won) return;
    this.setWon(false);
    try {
      const lease: any = await this.kube.coordination.readNamespacedLease({ name: this.name, namespace: this.kube.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime(new Date(this.now()))!;
      await this.kube.coordination.replaceNamespacedLease({
        name: this.name,
        namespace: this.kube.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now } },
      });
    } catch (err) {
      // Not fatal: the others take over when the record stops changing.
      this.events.onError(err);
    }
  }
}
