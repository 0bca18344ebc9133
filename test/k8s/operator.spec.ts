import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadOperatorConfig, loadStatsConfig } from '@winnow/config';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, Source } from '@winnow/proto';
import { startOperator } from '@winnow/operator';
import { startStats } from '@winnow/stats';
import type { RunningService } from '@winnow/observability';
import { eventually } from '@winnow/testing';
import { KubeConfig } from '@kubernetes/client-node';
import { metadataInformer } from '../../apps/operator/src/kube';
import { THIRD_PARTY_CRDS, kubeAvailable, kubeMissingNotice, startKube, type KubeServer } from '../support/kube-apiserver';
import { startRecordingProxy } from '../support/recording-proxy';

const root = join(__dirname, '..', '..');
const NS = 'winnow';
// The operator runs as its ServiceAccount, with exactly the RBAC that deploy/ ships.
const OPERATOR_USER = `system:serviceaccount:${NS}:winnow-operator`;
const OPERATOR_TOKEN = randomBytes(16).toString('hex');
const run = kubeAvailable() || process.env['CI'] === 'true';
if (!run) console.warn(`skipping the operator tests on a real API server: ${kubeMissingNotice()}`);

type Obj = { metadata: Record<string, any>; spec?: any; status?: any; [k: string]: any };

describe.runIf(run)('the operator against a real Kubernetes API server, as its own ServiceAccount, with a real stats service', () => {
  let kube: KubeServer;
  const key = randomBytes(32).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'winnow-operator-k8s-'));
  let stats: RunningService;
  let operator: RunningService & { operator: { isLeader: boolean } };
  let config: ClientOf<typeof ConfigService>;
  const operatorConfig = (pod: string) =>
    loadOperatorConfig({ WINNOW_NAMESPACE: NS, WINNOW_STATS_ADDR: `127.0.0.1:${stats.ports.grpc}`, WINNOW_SERVICE_KEY: key, WINNOW_OPERATOR_HTTP_PORT: '0', POD_NAME: pod, WINNOW_RESYNC_MS: '60000' });
  const quiet = new ConsoleLogger({ logLevels: ['fatal'] });
  const get = async (kind: string, name: string): Promise<Obj | undefined> => {
    try {
      return JSON.parse(await kube.kubectl(['get', kind, name, '-n', NS, '-o', 'json'])) as Obj;
    } catch (err) {
      if (/NotFound/.test((err as Error).message)) return undefined;
      throw err;
    }
  };
  const apply = (o: object) => kube.kubectl(['apply', '-n', NS, '-f', '-'], stringify(o));
  const cond = async (kind: string, name: string, type: string) => ((await get(kind, name))?.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
  const domains = async () => (await config.listTrackingDomains({})).domains.map((d) => `${d.hostname}=${d.tenant}:${d.keys.length}`).sort();
  const td = (name: string, spec: object) => ({ apiVersion: 'winnow.dev/v1alpha1', kind: 'TrackingDomain', metadata: { name, namespace: NS }, spec });

  beforeAll(async () => {
    expect(kubeAvailable(), kubeMissingNotice()).toBe(true);
    kube = await startKube({ users: { [OPERATOR_USER]: { token: OPERATOR_TOKEN, groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`] } } });
    await kube.kubectl(['apply', '-f', join(root, 'deploy', 'crds')]);
    await kube.kubectl(['apply', '--server-side', '-f', THIRD_PARTY_CRDS.gatewayApi()]);
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '--all', 'crd']);
    await kube.kubectl(['create', 'namespace', NS]);
    // The shipped RBAC, from the kustomize base.
    const rendered = parseAllDocuments(await kube.kubectl(['kustomize', join(root, 'deploy')])).map((d) => d.toJSON() as Obj);
    const rbac = rendered.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o['kind']));
    expect(rbac.map((o) => `${o['kind']}/${o.metadata['name']}`)).toEqual(expect.arrayContaining(['Role/winnow-operator', 'RoleBinding/winnow-operator', 'ServiceAccount/winnow-operator']));
    await kube.kubectl(['apply', '-f', '-'], rbac.map((o) => stringify(o)).join('---\n'));
    stats = await startStats(loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dir, WINNOW_DEMO_TENANT: 'false', WINNOW_SERVICE_KEY: key }), quiet);
    config = createClient(ConfigService, `127.0.0.1:${stats.ports.grpc}`, { metadata: bearer(key) });
    operator = await startOperator(operatorConfig('op-0'), kube.kubeConfig(NS, OPERATOR_USER), 300, quiet);
    await eventually(async () => operator.operator.isLeader, (x) => x, 10_000);
  }, 120_000);

  afterAll(async () => {
    await operator?.close();
    if (config) closeClient(config);
    await stats?.close();
    await kube?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the Lease with microsecond times, as the API server requires', async () => {
    const lease = (await get('lease', 'winnow-operator'))!;
    expect(lease.spec).toMatchObject({ holderIdentity: 'op-0', leaseDurationSeconds: 15 });
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease.spec.acquireTime).toMatch(/\.\d{6}Z$/);
  });

  it('generates the owned key Secret, routes the host, registers it and reports Ready with observedGeneration', async () => {
    await apply(td('nw', { tenant: 'northwind', hostname: 'links.northwind.example', tls: { issuerRef: { name: 'le' } } }));
    await eventually(async () => (await cond('trackingdomain', 'nw', 'Ready'))?.status, (s) => s === 'True', 15_000);
    const o = (await get('trackingdomain', 'nw'))!;
    expect(o.metadata['finalizers']).toContain('winnow.dev/deregister');
    expect(o.status).toMatchObject({ observedGeneration: 1, signingKeySecret: 'nw-signing-keys' });
    const secret = (await get('secret', 'nw-signing-keys'))!;
    expect(secret.metadata['ownerReferences'][0]).toMatchObject({ kind: 'TrackingDomain', name: 'nw', uid: o.metadata['uid'], controller: true });
    expect(Buffer.from(secret['data'].k1, 'base64')).toHaveLength(32);
    const ingress = (await get('ingress', 'winnow-td-nw'))!;
    expect(ingress).toMatchObject({ metadata: { annotations: { 'cert-manager.io/cluster-issuer': 'le' } }, spec: { rules: [{ host: 'links.northwind.example' }] } });
    expect(await domains()).toEqual(['links.northwind.example=northwind:1']);
  });

  it('records what it did as Kubernetes Events on the resource', async () => {
    const events = JSON.parse(await kube.kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=nw,involvedObject.kind=TrackingDomain', '-o', 'json'])) as { items: Array<{ reason: string; type: string; source: { component: string } }> };
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['KeySecretCreated', 'RouteApplied', 'Registered']));
    expect(events.items.every((e) => e.type === 'Normal' && e.source.component === 'winnow-operator')).toBe(true);
  });

  it('puts back a route it owns when someone deletes it (watched, not waiting for the resync)', async () => {
    await kube.kubectl(['delete', 'ingress', 'winnow-td-nw', '-n', NS]);
    await eventually(async () => (await get('ingress', 'winnow-td-nw'))?.spec?.rules?.[0]?.host, (h) => h === 'links.northwind.example', 10_000);
  });

  it('makes a deleted key Secret again from the keys stats holds, not from a fresh key that would break mailed links', async () => {
    const before = (await get('secret', 'nw-signing-keys'))!['data'].k1;
    await kube.kubectl(['delete', 'secret', 'nw-signing-keys', '-n', NS]);
    await eventually(async () => (await get('secret', 'nw-signing-keys'))?.['data']?.k1, (k) => k !== undefined, 10_000);
    expect((await get('secret', 'nw-signing-keys'))!['data'].k1).toBe(before);
    const registered = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === 'links.northwind.example')!;
    expect(Buffer.from(registered.keys[0]!.secret).toString('base64')).toBe(before);
  });

  // Through a recording proxy: what the operator asks for, and what the API server sends it.
  const throughProxy = async (namespace: string, user: string, token: string) => {
    const proxy = await startRecordingProxy(kube.url, kube.ca);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      // Plain HTTP on loopback to the proxy (client-node wants skipTLSVerify said for http); the proxy checks the server's certificate.
      clusters: [{ name: 'proxy', server: proxy.url, skipTLSVerify: true }],
      users: [{ name: user, token }],
      contexts: [{ name: 'proxy', cluster: 'proxy', user, namespace }],
      currentContext: 'proxy',
    });
    return { proxy, kc };
  };
  const collection = (ns: string) => new RegExp(`^/api/v1/namespaces/${ns}/secrets(\\?|$)`);

  it('lists and watches Secrets as metadata only, with the RBAC it ships: no list or watch answer carries the key Secret\'s data', async () => {
    const { proxy, kc } = await throughProxy(NS, OPERATOR_USER, OPERATOR_TOKEN);
    // A second replica: it lists and watches everything at start, then waits on the Lease.
    const second = await startOperator(operatorConfig('op-meta'), kc, 300, quiet);
    try {
      await eventually(async () => proxy.seen.filter((r) => collection(NS).test(r.path) && r.path.includes('watch=true')).length, (n) => n > 0, 10_000);
      // A Secret change reaches the watch while it is open.
      await kube.kubectl(['label', 'secret', 'nw-signing-keys', '-n', NS, 'winnow.test/touched=yes', '--overwrite']);
      await eventually(async () => proxy.seen.some((r) => collection(NS).test(r.path) && r.body.includes('winnow.test/touched')), (x) => x, 10_000);
    } finally {
      await second.close();
      await proxy.close();
    }
    const secrets = proxy.seen.filter((r) => collection(NS).test(r.path));
    expect(secrets.map((r) => (r.path.includes('watch=true') ? 'watch' : 'list'))).toEqual(expect.arrayContaining(['list', 'watch']));
    expect(secrets.every((r) => r.status === 200)).toBe(true);
    for (const r of secrets) expect(r.accept).toMatch(/as=PartialObjectMetadata(List)?;g=meta\.k8s\.io;v=v1/);
    // The key material is in the cluster, and not in any list or watch answer.
    const key = (await get('secret', 'nw-signing-keys'))!['data'].k1 as string;
    expect(key).toHaveLength(44);
    expect(secrets.some((r) => r.body.includes('"name":"nw-signing-keys"'))).toBe(true);
    for (const r of secrets) {
      expect(r.body).not.toContain(key);
      expect(r.body).not.toMatch(/"data":/);
    }
  });

  it('keeps of each watched Secret no data and no annotations, though kubectl apply copied the data into one', async () => {
    const password = randomBytes(12).toString('hex');
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated-db', namespace: NS }, stringData: { password } });
    const { proxy, kc } = await throughProxy(NS, 'admin', kube.token);
    const informer = metadataInformer(kc, `/api/v1/namespaces/${NS}/secrets`);
    try {
      await informer.start();
      const held = await eventually(async () => informer.get('unrelated-db', NS), (o) => o !== undefined, 10_000);
      await kube.kubectl(['label', 'secret', 'unrelated-db', '-n', NS, 'winnow.test/touched=yes']);
      await eventually(async () => informer.get('unrelated-db', NS)?.metadata?.labels?.['winnow.test/touched'], (v) => v === 'yes', 10_000);
      expect(held!.metadata).toMatchObject({ name: 'unrelated-db', namespace: NS });
      // The server did send the annotation that holds the password (metadata includes annotations) ...
      expect(proxy.seen.some((r) => r.body.includes('last-applied-configuration') && r.body.includes(password))).toBe(true);
      // ... and the informer kept none of it, from the list or from the watch.
      for (const o of informer.list(NS)) {
        expect(o.metadata?.annotations).toBeUndefined();
        expect(JSON.stringify(o)).not.toContain(password);
        expect(Object.keys(o)).toEqual(['apiVersion', 'kind', 'metadata']);
      }
    } finally {
      await informer.stop();
      await proxy.close();
      await kube.kubectl(['delete', 'secret', 'unrelated-db', '-n', NS]);
    }
  });

  it('refuses a hostname claimed by another tenant with a Conflict condition and routes nothing', async () => {
    await apply(td('thief', { tenant: 'globex', hostname: 'links.northwind.example' }));
    await eventually(async () => (await cond('trackingdomain', 'thief', 'Conflict'))?.status, (s) => s === 'True', 15_000);
    expect(await cond('trackingdomain', 'thief', 'Ready')).toMatchObject({ status: 'False', reason: 'HostnameClaimed' });
    expect(await get('ingress', 'winnow-td-thief')).toBeUndefined();
    expect(await domains()).toEqual(['links.northwind.example=northwind:1']);
  });

  it('says in status why a reconcile failed (Ready=False, ReconcileFailed), not only in Events', async () => {
    // The hostname is registered in stats to another tenant outside the cluster: registering fails.
    await config.putTrackingDomain({ domain: { hostname: 'links.taken.example', tenant: 'outsider', keys: [{ id: 'k1', secret: randomBytes(32), sealing: true }] } });
    await apply(td('taken', { tenant: 'initech', hostname: 'links.taken.example' }));
    await eventually(async () => await cond('trackingdomain', 'taken', 'Ready'), (c) => c?.reason === 'ReconcileFailed', 15_000);
    const ready = await cond('trackingdomain', 'taken', 'Ready');
    expect(ready).toMatchObject({ status: 'False', observedGeneration: 1 });
    expect(ready.message).toMatch(/registered to another tenant/);
    // Its retries back off (0.2 s doubling to 30 s), and other resources coming and going do not
    // cut the wait short (each deletion re-queues everything): before, each one retried it at once.
    const failureEvents = async () => (JSON.parse(await kube.kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=taken,reason=ReconcileFailed', '-o', 'json'])) as { items: Array<{ count: number; message: string; firstTimestamp: string; lastTimestamp: string }> }).items;
    const failures = async () => (await failureEvents()).reduce((n, e) => n + e.count, 0);
    // The first try and five retries (0.2, 0.4, 0.8, 1.6 and 3.2 s apart): the next waits 6.4 s, the
    // one after 12.8 s. Counted once the sixth is in, however slow the machine, not after a fixed sleep.
    const before = await eventually(failures, (n) => n >= 6, 30_000);
    const since = Date.now();
    // The same failure each time: one Event counting the tries (as client-go's recorder does), not one per try.
    const [series, ...more] = await failureEvents();
    expect(more).toEqual([]);
    expect(series!.count).toBeGreaterThanOrEqual(5);
    expect(series!.message).toMatch(/registered to another tenant/);
    expect(Date.parse(series!.lastTimestamp)).toBeGreaterThan(Date.parse(series!.firstTimestamp));
    for (let i = 0; i < 5; i++) {
      await apply({ apiVersion: 'winnow.dev/v1alpha1', kind: 'SuppressionSetting', metadata: { name: `churn-${i}`, namespace: NS }, spec: { tenant: `churn-${i}` } });
      await kube.kubectl(['delete', 'suppressionsetting', `churn-${i}`, '-n', NS]);
    }
    await new Promise((ok) => setTimeout(ok, 1_000));
    // At most the retries the backoff itself allows in this time (one in the 19.2 s after the sixth);
    // before, each of the five deletions retried at once.
    const allowed = Date.now() - since < 19_200 ? 1 : 2;
    expect(await failures()).toBeLessThanOrEqual(before + allowed);
    await kube.kubectl(['delete', 'trackingdomain', 'taken', '-n', NS]);
    await config.deleteTrackingDomain({ hostname: 'links.taken.example', tenant: 'outsider' });
    expect(await domains()).toEqual(['links.northwind.example=northwind:1']);
  });

  it('pushes a SuppressionSetting to the stats service and reports it', async () => {
    await apply({ apiVersion: 'winnow.dev/v1alpha1', kind: 'SuppressionSetting', metadata: { name: 'nw', namespace: NS }, spec: { tenant: 'northwind', opens: { mode: 'Sources', sources: ['apple_mpp', 'bot'] } } });
    await eventually(async () => (await cond('suppressionsetting', 'nw', 'Ready'))?.status, (s) => s === 'True', 15_000);
    expect((await get('suppressionsetting', 'nw'))!.status.observedGeneration).toBe(1);
    const p = await config.getSuppressionPolicy({ tenant: 'northwind' });
    expect(p.explicit).toBe(true);
    expect(p.policy!.opens).toMatchObject({ allAutomated: false, sources: [Source.APPLE_MPP, Source.BOT] });
  });

  it('rotates the key Secret it generated once its sealing key is past the period, and registers the new key to seal', async () => {
    // A day cannot pass here: the Secret's record of when k1 was made is moved 100 days back instead.
    const before = (await get('secret', 'nw-signing-keys'))!;
    expect(before.metadata['annotations']['winnow.dev/sealing-key']).toBe('k1');
    const longAgo = new Date(Date.now() - 100 * 86_400_000).toISOString();
    await kube.kubectl(['annotate', 'secret', 'nw-signing-keys', '-n', NS, '--overwrite', `winnow.dev/key-created={"k1":"${longAgo}"}`]);
    await kube.kubectl(['annotate', 'trackingdomain', 'nw', '-n', NS, '--overwrite', 'test/nudge=1']); // a watch event, instead of waiting for the resync
    const after = await eventually(async () => get('secret', 'nw-signing-keys'), (s) => s?.metadata['annotations']['winnow.dev/sealing-key'] === 'k2', 15_000);
    expect(Object.keys(after!['data']).sort()).toEqual(['k1', 'k2']);
    expect(after!['data'].k1).toBe(before['data'].k1);
    const sealing = async () => (await config.listTrackingDomains({})).domains.find((d) => d.hostname === 'links.northwind.example')!.keys.map((k) => `${k.id}${k.sealing ? '*' : ''}`).sort();
    expect(await eventually(sealing, (k) => k.join() === 'k1,k2*', 10_000)).toEqual(['k1', 'k2*']);
    const status = await eventually(async () => (await get('trackingdomain', 'nw'))!.status, (s) => s.sealingKeyId === 'k2', 10_000);
    expect(Date.parse(status.keysRotatedAt)).toBeGreaterThan(Date.now() - 60_000);
    const events = JSON.parse(await kube.kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=nw,reason=KeysRotated', '-o', 'json'])) as { items: Array<{ message: string }> };
    expect(events.items.map((e) => e.message)).toEqual(['Secret nw-signing-keys: new sealing key k2']);
  });

  it('runs one active replica: a second operator waits on the Lease', async () => {
    const second = await startOperator(operatorConfig('op-1'), kube.kubeConfig(NS, OPERATOR_USER), 300, quiet);
    try {
      await new Promise((ok) => setTimeout(ok, 1500));
      expect(operator.operator.isLeader).toBe(true);
      expect(second.operator.isLeader).toBe(false);
      expect((await get('lease', 'winnow-operator'))!.spec.holderIdentity).toBe('op-0');
    } finally {
      await second.close();
    }
  });

  it('deregisters through the finalizer on deletion, and the waiting claim takes the hostname over', async () => {
    await kube.kubectl(['delete', 'trackingdomain', 'nw', '-n', NS, '--wait=true', '--timeout=20s']);
    expect(await get('trackingdomain', 'nw')).toBeUndefined();
    await eventually(async () => (await cond('trackingdomain', 'thief', 'Ready'))?.status, (s) => s === 'True', 15_000);
    expect(await domains()).toEqual(['links.northwind.example=globex:1']);
    // No garbage collector runs here: the Ingress of nw is deleted by the operator itself.
    expect(await get('ingress', 'winnow-td-nw')).toBeUndefined();
  });

  it('gives the Lease up on a clean stop, and the waiting replica takes over at its next tick', async () => {
    const second = await startOperator(operatorConfig('op-2'), kube.kubeConfig(NS, OPERATOR_USER), 300, quiet);
    try {
      await operator.close();
      const started = Date.now();
      await eventually(async () => second.operator.isLeader, (x) => x, 10_000);
      // Far sooner than the 15 s a crashed holder is outwaited.
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await get('lease', 'winnow-operator'))!.spec).toMatchObject({ holderIdentity: 'op-2', leaseTransitions: 1 });
    } finally {
      operator = second;
    }
  });

  it('outwaits a holder that crashed without giving the Lease up, judged by its own clock', async () => {
    // A crashed replica's record: held, never renewed again.
    // The holder renews every few seconds, so a write can meet a renewal between read and write:
    // each attempt writes over the version it read and reads again on a Conflict.
    let replaced = 0;
    for (let attempt = 1; ; attempt++) {
      const lease = (await get('lease', 'winnow-operator'))!;
      const crashed = { ...lease, metadata: { name: 'winnow-operator', namespace: NS, resourceVersion: lease.metadata['resourceVersion'] }, spec: { ...lease.spec, holderIdentity: 'op-crashed' } };
      try {
        await kube.kubectl(['replace', '-n', NS, '-f', '-'], stringify(crashed));
        replaced = Date.now();
        break;
      } catch (err) {
        if (attempt === 20 || !/Conflict/.test((err as Error).message)) throw err;
      }
    }
    await eventually(async () => operator.operator.isLeader, (x) => !x, 5_000);
    await eventually(async () => operator.operator.isLeader, (x) => x, 25_000);
    // The record changed hands at `replaced`; the operator saw it no sooner, and waits 15 s from then.
    expect(Date.now() - replaced).toBeGreaterThan(14_000);
    expect((await get('lease', 'winnow-operator'))!.spec).toMatchObject({ holderIdentity: 'op-2', leaseTransitions: 2 });
  }, 40_000);

  it('routes through the Gateway API when asked: an HTTPRoute the server accepts, left alone while it matches', async () => {
    const gw = 'winnow-gw';
    await kube.kubectl(['create', 'namespace', gw]);
    const cfg = loadOperatorConfig({
      WINNOW_NAMESPACE: gw,
      WINNOW_STATS_ADDR: `127.0.0.1:${stats.ports.grpc}`,
      WINNOW_SERVICE_KEY: key,
      WINNOW_OPERATOR_HTTP_PORT: '0',
      POD_NAME: 'gw-0',
      WINNOW_RESYNC_MS: '300',
      WINNOW_ROUTE_KIND: 'gateway',
      WINNOW_GATEWAY_NAME: 'public',
      WINNOW_GATEWAY_NAMESPACE: 'edge',
    });
    const gwOperator = await startOperator(cfg, kube.kubeConfig(gw), 300, quiet);
    try {
      await kube.kubectl(['apply', '-n', gw, '-f', '-'], stringify({ apiVersion: 'winnow.dev/v1alpha1', kind: 'TrackingDomain', metadata: { name: 'gw', namespace: gw }, spec: { tenant: 'initech', hostname: 'links.initech.example' } }));
      const route = async () => JSON.parse(await kube.kubectl(['get', 'httproute', 'winnow-td-gw', '-n', gw, '-o', 'json']).catch(() => 'null')) as Obj | null;
      const first = await eventually(route, (r) => r !== null, 15_000);
      expect(first!.spec).toMatchObject({ hostnames: ['links.initech.example'], parentRefs: [{ name: 'public', namespace: 'edge' }] });
      // The server filled in defaults (kind, group, weight, path match); several resyncs later the
      // operator has not taken them for drift: one RouteApplied, not one per resync. (A replace with
      // the same content would not show in resourceVersion: the server skips no-op writes.)
      await new Promise((ok) => setTimeout(ok, 1500));
      expect((await route())!.metadata['resourceVersion']).toBe(first!.metadata['resourceVersion']);
      const events = JSON.parse(await kube.kubectl(['get', 'events', '-n', gw, '--field-selector', 'involvedObject.name=gw,reason=RouteApplied', '-o', 'json'])) as { items: unknown[] };
      expect(events.items).toHaveLength(1);
    } finally {
      await gwOperator.close();
    }
  });
});
