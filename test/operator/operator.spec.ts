import { randomBytes } from 'node:crypto';
import { ConsoleLogger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOperatorConfig, loadStatsConfig } from '@winnow/config';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService } from '@winnow/proto';
import { startOperator } from '@winnow/operator';
import { startStats } from '@winnow/stats';
import type { RunningService } from '@winnow/observability';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKubeApi } from '../support/fake-kube-api';

const NS = 'winnow';
const TD = `/apis/winnow.dev/v1alpha1/namespaces/${NS}/trackingdomains`;
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const INGRESSES = `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`;

// Faults on demand (a 409 on one write, a watch expiring with 410 Gone or failing with 500) need this
// fake (and counting the writes the operator makes); the rest is tested on a real kube-apiserver in
// test/k8s/operator.spec.ts.
describe('the operator against a fake Kubernetes API that injects faults (real client over HTTP) and a real stats service', () => {
  const api = new FakeKubeApi();
  const key = randomBytes(32).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'winnow-operator-'));
  let stats: RunningService;
  let operator: RunningService & { operator: { isLeader: boolean } };
  let config: ClientOf<typeof ConfigService>;
  const domains = async () => (await config.listTrackingDomains({})).domains.map((d) => `${d.hostname}=${d.tenant}:${d.keys.length}`).sort();
  const cond = (collection: string, name: string, type: string) => (api.get(collection, name)?.['status']?.conditions ?? []).find((c: { type: string }) => c.type === type);

  beforeAll(async () => {
    await api.start();
    stats = await startStats(loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dir, WINNOW_DEMO_TENANT: 'false', WINNOW_SERVICE_KEY: key }), new ConsoleLogger({ logLevels: ['fatal'] }));
    config = createClient(ConfigService, `127.0.0.1:${stats.ports.grpc}`, { metadata: bearer(key) });
    const kc = api.kubeConfig(NS);
    operator = await startOperator(
      loadOperatorConfig({ WINNOW_NAMESPACE: NS, WINNOW_STATS_ADDR: `127.0.0.1:${stats.ports.grpc}`, WINNOW_SERVICE_KEY: key, WINNOW_OPERATOR_HTTP_PORT: '0', POD_NAME: 'op-0', WINNOW_RESYNC_MS: '500' }),
      kc,
      200,
    );
    await eventually(async () => operator.operator.isLeader, (x) => x, 5000);
  });

  afterAll(async () => {
    await operator?.close();
    closeClient(config);
    await stats?.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reconciles a TrackingDomain to Ready (the starting point of the fault tests)', async () => {
    api.apply(TD, { metadata: { name: 'nw', namespace: NS }, spec: { tenant: 'northwind', hostname: 'links.northwind.example', tls: { issuerRef: { name: 'le' } } } });
    await eventually(async () => cond(TD, 'nw', 'Ready')?.status, (s) => s === 'True', 10_000);
    const td = api.get(TD, 'nw')!;
    expect(td.metadata['finalizers']).toContain('winnow.dev/deregister');
    expect(td['status']).toMatchObject({ observedGeneration: 1, signingKeySecret: 'nw-signing-keys' });
    const secret = api.get(SECRETS, 'nw-signing-keys')!;
    expect(secret.metadata['ownerReferences'][0]).toMatchObject({ kind: 'TrackingDomain', name: 'nw', uid: td.metadata['uid'] });
    expect(Buffer.from(secret['data'].k1, 'base64')).toHaveLength(32);
    expect(api.get(INGRESSES, 'winnow-td-nw')).toMatchObject({ metadata: { annotations: { 'cert-manager.io/cluster-issuer': 'le' } }, spec: { rules: [{ host: 'links.northwind.example' }] } });
    expect(await domains()).toEqual(['links.northwind.example=northwind:1']);
  });

  it('writes status only when it changed', async () => {
    const statusWrites = () => api.requests.filter((r) => r.startsWith('PATCH') && r.endsWith('/status')).length;
    const before = statusWrites();
    await new Promise((ok) => setTimeout(ok, 1500)); // several resyncs
    expect(statusWrites()).toBe(before);
  });

  it('retries after a 409 conflict and after the watch expires (410 Gone, re-list)', async () => {
    api.fail('PUT', /\/ingresses\/winnow-td-nw$/, 409, 1);
    api.apply(TD, { metadata: { name: 'nw', namespace: NS }, spec: { tenant: 'northwind', hostname: 'links.northwind.example' } });
    await eventually(async () => api.get(INGRESSES, 'winnow-td-nw')?.metadata['annotations'], (a) => a === undefined, 10_000);
    await eventually(async () => cond(TD, 'nw', 'Ready')?.observedGeneration, (g) => g === 2, 10_000);
    api.expireWatches();
    api.apply(TD, { metadata: { name: 'late', namespace: NS }, spec: { tenant: 'acme', hostname: 'go.acme.example' } });
    await eventually(async () => cond(TD, 'late', 'Ready')?.status, (s) => s === 'True', 15_000);
    expect(await domains()).toEqual(['go.acme.example=acme:1', 'links.northwind.example=northwind:1']);
  });

  it('restarts a watch that fails with an error other than 410, and reports its metrics', async () => {
    // The watch ends; its re-list then fails twice with a server error: the informer stops on it.
    api.fail('GET', new RegExp(`${TD}$`), 500, 2);
    api.expireWatches();
    await new Promise((ok) => setTimeout(ok, 300));
    api.apply(TD, { metadata: { name: 'after-error', namespace: NS }, spec: { tenant: 'initech', hostname: 'l.initech.example' } });
    await eventually(async () => cond(TD, 'after-error', 'Ready')?.status, (s) => s === 'True', 20_000);
    const metrics = (await httpRequest({ port: operator.ports.http!, path: '/metrics' })).body.toString();
    expect(metricValue(metrics, 'winnow_operator_watch_restarts_total', { kind: 'trackingdomains' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'winnow_operator_leader')).toBe(1);
    expect(metricValue(metrics, 'winnow_operator_reconciles_total', { kind: 'trackingdomains', result: 'ok' })).toBeGreaterThan(3);
    expect(metricValue(metrics, 'winnow_operator_reconciles_total', { kind: 'trackingdomains', result: 'error' })).toBeGreaterThan(0); // the injected 409
  });

  it('restarts no watch once stopped: a restart due after the stop is dropped', async () => {
    // An operator of its own on an API of its own, so the requests counted are only its.
    const own = new FakeKubeApi();
    await own.start();
    const second = await startOperator(
      loadOperatorConfig({ WINNOW_NAMESPACE: NS, WINNOW_STATS_ADDR: `127.0.0.1:${stats.ports.grpc}`, WINNOW_SERVICE_KEY: key, WINNOW_OPERATOR_HTTP_PORT: '0', POD_NAME: 'op-stop', WINNOW_RESYNC_MS: '60000' }),
      own.kubeConfig(NS),
      200,
    );
    try {
      // Lists and watches of the Secrets.
      const secretLists = () => own.requests.filter((r) => r.startsWith(`GET ${SECRETS}`)).length;
      await eventually(async () => own.requests.includes(`GET ${SECRETS}?watch`), (x) => x, 5_000);
      // The Secret watch ends and its next request fails: a restart is due in a second; the operator stops first.
      own.fail('GET', new RegExp(`${SECRETS}$`), 500, 1_000);
      const before = secretLists();
      own.expireWatches();
      await eventually(async () => secretLists(), (n) => n > before, 5_000);
      await second.close();
      const atStop = own.requests.length;
      await new Promise((ok) => setTimeout(ok, 1_600));
      expect(own.requests.slice(atStop)).toEqual([]);
    } finally {
      await second.close();
      await own.stop();
    }
  });

});
