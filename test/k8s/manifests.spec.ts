import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { THIRD_PARTY_CRDS, kubeAvailable, kubeMissingNotice, startKube, type KubeServer } from '../support/kube-apiserver';
import { ALL_ON } from '../support/helm';
import { renderWithMtls } from '../support/kustomize';

const root = join(__dirname, '..', '..');
const helm = process.env['HELM_BIN'] ?? 'helm';
const helmHere = spawnSync(helm, ['version'], { encoding: 'utf8' }).status === 0;
const run = (kubeAvailable() && helmHere) || process.env['CI'] === 'true';
if (!run) console.warn(`skipping the server-side dry runs of the manifests: ${kubeAvailable() ? `${helm} not found` : kubeMissingNotice()}`);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJSON() as Obj).filter(Boolean);

describe.runIf(run)('every rendered manifest, dry-run on a real Kubernetes API server', () => {
  let kube: KubeServer;

  beforeAll(async () => {
    expect(kubeAvailable(), kubeMissingNotice()).toBe(true);
    kube = await startKube();
    // Server-side apply: prometheus-operator's CRDs are too large for the last-applied annotation.
    for (const dir of [THIRD_PARTY_CRDS.prometheusOperator(), THIRD_PARTY_CRDS.gatewayApi(), THIRD_PARTY_CRDS.certManager()]) {
      await kube.kubectl(['apply', '--server-side', '-f', dir]);
    }
    await kube.kubectl(['apply', '-f', join(root, 'deploy', 'crds')]);
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '--all', 'crd']);
    await kube.kubectl(['create', 'namespace', 'winnow']);
  }, 120_000);

  afterAll(async () => kube?.stop());

  const dryRun = async (objects: Obj[]) => {
    // The CRDs are there already (applied above); everything else is checked by the server as it would be stored.
    const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
    const out = await kube.kubectl(['apply', '--dry-run=server', '-n', 'winnow', '-f', '-'], rest.map((o) => stringify(o)).join('---\n'));
    return out.trim().split('\n');
  };

  it.each([
    ['every switch on, Ingress routes', [...ALL_ON]],
    ['every switch on, Gateway API routes', [...ALL_ON, '--set', 'operator.routeKind=gateway']],
    ['the defaults', []],
  ])('accepts what helm template renders: %s', async (_name, args) => {
    const objects = docs(execFileSync(helm, ['template', 'w', join(root, 'charts', 'winnow'), '--namespace', 'winnow', ...args], { encoding: 'utf8' }));
    const lines = await dryRun(objects);
    expect(lines.length).toBe(objects.filter((o) => o.kind !== 'CustomResourceDefinition').length);
    for (const l of lines) expect(l).toMatch(/\(server dry run\)$/);
    if (args.length > 0) expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy', 'StatefulSet', 'PodDisruptionBudget', 'Certificate']));
  });

  it('accepts what kubectl kustomize renders from deploy/', async () => {
    const objects = docs(await kube.kubectl(['kustomize', join(root, 'deploy')])).filter((o) => o.kind !== 'Namespace');
    const lines = await dryRun(objects);
    expect(lines).toHaveLength(objects.filter((o) => o.kind !== 'CustomResourceDefinition').length);
  });

  it('accepts deploy/ with the grpc-mtls component (its Certificate checked against the cert-manager CRD)', async () => {
    const objects = docs(renderWithMtls()).filter((o) => o.kind !== 'Namespace');
    expect(objects.map((o) => o.kind)).toContain('Certificate');
    const lines = await dryRun(objects);
    expect(lines).toHaveLength(objects.filter((o) => o.kind !== 'CustomResourceDefinition').length);
    for (const l of lines) expect(l).toMatch(/\(server dry run\)$/);
  });

  it('refuses an object the chart must never render, so the dry run can fail', async () => {
    const bad = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: { maxUnavailable: 1, minAvailable: 1, selector: {} } };
    await expect(kube.kubectl(['apply', '--dry-run=server', '-n', 'winnow', '-f', '-'], stringify(bad))).rejects.toThrow(/minAvailable and maxUnavailable cannot be both set|invalid/i);
  });
});
