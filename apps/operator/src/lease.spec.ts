import { describe, expect, it } from 'vitest';
import { LeaderLease, RENEW_DEADLINE_MS } from './lease';
import type { Kube } from './kube';

// A leader cut off from the API server must stop acting before another replica may take the Lease
// (15 s after the last change it saw), even while its renewal request hangs. The real API server
// cannot be made to hang one client's requests here, so this one fault is played by a fake Kube
// (the Lease itself is tested against a real API server in test/k8s/operator.spec.ts).
describe('the leader lease under a hanging API server', () => {
  it('steps down once its last renewal is older than the renew deadline, while the renewal still hangs', async () => {
    let t = 1_000_000;
    let hang = false;
    let stored: any;
    const never = new Promise<never>(() => undefined);
    const kube = {
      namespace: 'winnow',
      coordination: {
        readNamespacedLease: async () => {
          if (hang) return never;
          if (!stored) throw Object.assign(new Error('not found'), { code: 404 });
          return stored;
        },
        createNamespacedLease: async ({ body }: { body: unknown }) => {
          stored = { ...(body as object), metadata: { name: 'l', resourceVersion: '1' } };
          return stored;
        },
        replaceNamespacedLease: async ({ body }: { body: any }) => {
          stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(body.metadata.resourceVersion) + 1) } };
          return stored;
        },
      },
    } as unknown as Kube;
    const changes: boolean[] = [];
    const lease = new LeaderLease(kube, 'l', 'op-0', { onChange: (l) => changes.push(l), onError: () => undefined }, () => t);
    await lease.tick();
    expect([lease.leader, changes]).toEqual([true, [true]]);
    t += 5_000;
    await lease.tick(); // renewed
    expect(lease.leader).toBe(true);
    // The API server stops answering: the next renewal never returns.
    hang = true;
    void lease.tick();
    t += RENEW_DEADLINE_MS - 1;
    expect(lease.leader).toBe(true);
    t += 2;
    expect(lease.leader).toBe(false); // no longer acts, though no request has failed
    (lease as unknown as { checkDeadline(): void }).checkDeadline();
    expect(changes).toEqual([true, false]);
  });
});
