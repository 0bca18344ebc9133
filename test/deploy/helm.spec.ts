import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kubernetesModel } from '../support/k8s-models';

const root = join(__dirname, '..', '..');
const chart = join(root, 'charts', 'winnow');
const helm = process.env['HELM_BIN'] ?? 'helm';
const available = spawnSync(helm, ['version'], { encoding: 'utf8' }).status === 0;

if (!available && process.env['CI'] !== 'true') {
  process.stderr.write(`NOTICE: ${helm} not found; the Helm chart tests are skipped (.ci/run builds Helm; set HELM_BIN)\n`);
}

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [k: string]: unknown;
}

const render = (...args: string[]) => parseAllDocuments(execFileSync(helm, ['template', 'w', chart, ...args], { encoding: 'utf8' })).map((d) => d.toJSON() as Obj).filter(Boolean);

describe.runIf(available || process.env['CI'] === 'true')('charts/winnow (helm lint, helm template)', () => {
  it('has Helm here (CI builds it)', () => {
    expect(available, `${helm} is not runnable`).toBe(true);
  });

  it('lints', () => {
    const r = spawnSync(helm, ['lint', '--strict', chart], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('renders objects that pass the Kubernetes schemas, restricted and probed', async () => {
    const objects = render();
    expect(objects.map((o) => o.kind).sort()).toEqual(['CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'Deployment', 'Deployment', 'Deployment', 'Role', 'RoleBinding', 'Service', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount']);
    for (const o of objects.filter((x) => x.kind === 'Role')) {
      for (const rule of o['rules'] as Array<Record<string, string[]>>) for (const k of ['apiGroups', 'resources', 'verbs']) expect(rule[k]).not.toContain('*');
    }
    for (const o of objects) {
      const Model = await kubernetesModel(o);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      expect((o.metadata as { labels?: Record<string, string> }).labels ?? {}, o.metadata.name).toMatchObject(o.kind === 'CustomResourceDefinition' ? {} : { 'app.kubernetes.io/part-of': 'winnow', 'app.kubernetes.io/instance': 'w' });
    }
    for (const d of objects.filter((x) => x.kind === 'Deployment')) {
      const pod = (d['spec'] as { template: { metadata: { annotations: Record<string, string> }; spec: { securityContext: unknown; containers: Array<Record<string, unknown>> } } }).template;
      expect(pod.metadata.annotations['prometheus.io/scrape']).toBe('true');
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.spec.containers[0]!;
      expect(c['securityContext']).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/readyz', port: 'ops' } });
      expect(c['livenessProbe']).toMatchObject({ httpGet: { path: '/healthz', port: 'ops' } });
    }
  });

  it('puts the CRDs behind a switch and offers a ServiceMonitor', () => {
    expect(render('--set', 'crds.install=false').filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(0);
    expect(render('--set', 'operator.enabled=false').filter((o) => o.kind === 'Role' || o.metadata.name.endsWith('-operator'))).toHaveLength(0);
    const sm = render('--set', 'metrics.serviceMonitor.enabled=true').filter((o) => o.kind === 'ServiceMonitor');
    expect(sm).toHaveLength(1);
    expect(sm[0]).toMatchObject({ spec: { endpoints: [{ port: 'ops', path: '/metrics' }] } });
  });

  it('refuses unknown and wrongly typed values', () => {
    for (const bad of [['--set', 'collector.bogus=1'], ['--set', 'stats.replicas=-1'], ['--set', 'image.pullPolicy=Sometimes'], ['--set', 'unknownTop=1']]) {
      const r = spawnSync(helm, ['template', 'w', chart, ...bad], { encoding: 'utf8' });
      expect(r.status, bad.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/schema/i);
    }
  });

  it('ships the same CRDs as deploy/', () => {
    const files = readdirSync(join(root, 'deploy', 'crds')).sort();
    expect(readdirSync(join(chart, 'files', 'crds')).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(chart, 'files', 'crds', f), 'utf8')).toBe(readFileSync(join(root, 'deploy', 'crds', f), 'utf8'));
  });
});
