import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kubernetesModel } from '../support/k8s-models';
import { renderWithMtls } from '../support/kustomize';

const root = join(__dirname, '..', '..');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [k: string]: unknown;
}

describe('deploy/ (kubectl kustomize)', () => {
  const rendered = execFileSync('kubectl', ['kustomize', join(root, 'deploy')], { encoding: 'utf8' });
  const objects = parseAllDocuments(rendered).map((d) => d.toJSON() as Obj);

  it('renders the CRDs, the services and RBAC', () => {
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'CustomResourceDefinition/trackingdomains.winnow.dev',
        'CustomResourceDefinition/suppressionsettings.winnow.dev',
        'StatefulSet/winnow-collector',
        'PodDisruptionBudget/winnow-collector',
        'Deployment/winnow-classifier',
        'Deployment/winnow-stats',
        'Role/winnow-operator',
        'Deployment/winnow-operator',
      ]),
    );
  });

  it('passes the Kubernetes schemas', async () => {
    for (const o of objects) {
      const Model = await kubernetesModel(o);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('grants no wildcards and runs every pod restricted, with probes on /healthz and /readyz', () => {
    for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
      for (const rule of o['rules'] as Array<Record<string, string[]>>) {
        for (const k of ['apiGroups', 'resources', 'verbs']) expect(rule[k], `${o.metadata.name} ${k}`).not.toContain('*');
      }
    }
    for (const d of objects.filter((x) => x.kind === 'Deployment')) {
      const pod = (d['spec'] as { template: { spec: { securityContext: Record<string, unknown>; containers: Array<Record<string, unknown>> } } }).template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod.containers) {
        expect(c['securityContext']).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/readyz' } });
        expect(c['livenessProbe']).toMatchObject({ httpGet: { path: '/healthz' } });
      }
    }
  });
});

describe('deploy/components/grpc-mtls (a kustomize Component)', () => {
  const objects = parseAllDocuments(renderWithMtls()).map((d) => d.toJSON() as Obj);
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

  it('mounts the certificate Secret in every pod and turns mTLS on, keeping the spool and the probes as they were', () => {
    expect(workloads).toHaveLength(4);
    for (const w of workloads) {
      const pod = (w['spec'] as { template: { spec: { volumes: unknown[]; containers: Array<Record<string, any>> } } }).template.spec;
      const c = pod.containers[0]!;
      expect(c['env']).toEqual(expect.arrayContaining([{ name: 'WINNOW_GRPC_TLS', value: 'mtls' }, expect.objectContaining({ name: 'WINNOW_SERVICE_KEY' })]));
      expect(c['volumeMounts']).toEqual(expect.arrayContaining([{ name: 'grpc-tls', mountPath: '/etc/winnow/tls', readOnly: true }]));
      expect(pod.volumes).toEqual(expect.arrayContaining([{ name: 'grpc-tls', secret: { secretName: 'winnow-grpc-tls' } }]));
      expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/readyz', port: 'ops' } });
    }
    const collector = workloads.find((w) => w.kind === 'StatefulSet')!;
    expect((collector['spec'] as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates).toHaveLength(1);
  });

  it('asks cert-manager for a certificate naming every gRPC address the pods dial', () => {
    const certificate = objects.find((o) => o.kind === 'Certificate')! as Obj & { spec: { secretName: string; dnsNames: string[] } };
    expect(certificate.spec.secretName).toBe('winnow-grpc-tls');
    for (const w of workloads) {
      const env = (w['spec'] as { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } }).template.spec.containers[0]!.env;
      for (const e of env.filter((x) => /_ADDR$/.test(x.name))) expect(certificate.spec.dnsNames, `${w.metadata.name} ${e.name}`).toContain(e.value!.split(':')[0]);
    }
  });
});

