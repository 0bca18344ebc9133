import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kubernetesModel } from '../support/k8s-models';
import { ALL_ON } from '../support/helm';
import { exportedMetricNames, metricsIn } from '../support/metric-names';

const root = join(__dirname, '..', '..');
const chart = join(root, 'charts', 'winnow');
const helm = process.env['HELM_BIN'] ?? 'helm';
const available = spawnSync(helm, ['version'], { encoding: 'utf8' }).status === 0;

if (!available && process.env['CI'] !== 'true') {
  process.stderr.write(`NOTICE: ${helm} not found; the Helm chart tests are skipped (.ci/run builds Helm; set HELM_BIN)\n`);
}

type Labels = Record<string, string>;
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Labels; annotations?: Labels };
  spec?: any;
  [k: string]: any;
}

const render = (...args: string[]) => parseAllDocuments(execFileSync(helm, ['template', 'w', chart, '--namespace', 'winnow', ...args], { encoding: 'utf8' })).map((d) => d.toJSON() as Obj).filter(Boolean);
const workloads = (objects: Obj[]) => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const podLabels = (w: Obj): Labels => w.spec.template.metadata.labels;
const matches = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

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
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'Deployment', 'Deployment', 'Pod',
      'PodDisruptionBudget', 'PodDisruptionBudget', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Role', 'RoleBinding',
      'Service', 'Service', 'Service', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount', 'StatefulSet',
    ]);
    for (const o of objects.filter((x) => x.kind === 'Role')) {
      for (const rule of o['rules'] as Array<Record<string, string[]>>) for (const k of ['apiGroups', 'resources', 'verbs']) expect(rule[k]).not.toContain('*');
    }
    for (const o of objects) {
      const Model = await kubernetesModel(o);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      expect(o.metadata.labels ?? {}, o.metadata.name).toMatchObject({ 'app.kubernetes.io/part-of': 'winnow', 'app.kubernetes.io/instance': 'w' });
    }
    for (const w of workloads(objects)) {
      const pod = w.spec.template;
      expect(pod.metadata.annotations['prometheus.io/scrape']).toBe('true');
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.spec.containers[0]!;
      expect(c.args).toEqual(['serve', w.metadata.labels!['app.kubernetes.io/component']]);
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'ops' } });
      expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'ops' } });
      expect(pod.spec.terminationGracePeriodSeconds).toBe(30);
      expect(c.env).toEqual(expect.arrayContaining([{ name: 'WINNOW_DRAIN_MS', value: '25000' }, { name: 'WINNOW_LOG_LEVEL', value: 'info' }]));
      // No exec hooks: the image has no shell. Draining is the SIGTERM path.
      expect(c.lifecycle).toBeUndefined();
    }
  });

  it('runs the collector as a StatefulSet with a spool claim per replica, kept when scaled away', () => {
    const objects = render('--set', 'collector.persistence.size=5Gi,collector.persistence.storageClassName=fast');
    const sts = objects.find((o) => o.kind === 'StatefulSet')!;
    expect(sts.metadata.name).toBe('w-winnow-collector');
    expect(sts.spec).toMatchObject({
      serviceName: 'w-winnow-collector-pods',
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: 'Retain' },
      volumeClaimTemplates: [{ metadata: { name: 'spool' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } } }],
    });
    const c = sts.spec.template.spec.containers[0];
    expect(c.volumeMounts).toEqual([{ name: 'spool', mountPath: '/var/spool/winnow' }]);
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'WINNOW_SPOOL_DIR', value: '/var/spool/winnow' }]));
    expect(sts.spec.template.spec.volumes).toBeUndefined(); // no emptyDir
    expect(objects.find((o) => o.kind === 'Service' && o.metadata.name === 'w-winnow-collector-pods')!.spec.clusterIP).toBe('None');
  });

  it('selects the pods it means: every Service, PodDisruptionBudget, NetworkPolicy and the ServiceMonitor', () => {
    const objects = render(...ALL_ON);
    const pods = workloads(objects).map((w) => ({ component: w.metadata.labels!['app.kubernetes.io/component']!, labels: podLabels(w) }));
    expect(pods.map((p) => p.component).sort()).toEqual(['classifier', 'collector', 'operator', 'stats']);
    const selected = (selector: Labels) => pods.filter((p) => matches(selector, p.labels)).map((p) => p.component);
    for (const s of objects.filter((o) => o.kind === 'Service')) {
      expect(selected(s.spec.selector), `Service ${s.metadata.name}`).toEqual([s.metadata.labels!['app.kubernetes.io/component']]);
    }
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
    expect(pdbs).toHaveLength(4);
    for (const p of pdbs) {
      expect(p.spec.maxUnavailable).toBe(1);
      expect(selected(p.spec.selector.matchLabels), `PDB ${p.metadata.name}`).toEqual([p.metadata.labels!['app.kubernetes.io/component']]);
    }
    const nps = objects.filter((o) => o.kind === 'NetworkPolicy');
    expect(nps.map((n) => n.metadata.name).sort()).toEqual(['w-winnow-classifier', 'w-winnow-collector', 'w-winnow-operator', 'w-winnow-stats']);
    for (const n of nps) expect(selected(n.spec.podSelector.matchLabels), `NetworkPolicy ${n.metadata.name}`).toEqual([n.metadata.labels!['app.kubernetes.io/component']]);
    // The classifier's gRPC admits the collector only; stats' admits every Winnow pod.
    const classifierFrom = nps.find((n) => n.metadata.name === 'w-winnow-classifier')!.spec.ingress[0].from;
    expect(classifierFrom.flatMap((f: { podSelector: { matchLabels: Labels } }) => selected(f.podSelector.matchLabels))).toEqual(['collector']);
    const statsFrom = nps.find((n) => n.metadata.name === 'w-winnow-stats')!.spec.ingress[0].from;
    expect(selected(statsFrom[0].podSelector.matchLabels).sort()).toEqual(['classifier', 'collector', 'operator', 'stats']);
    // The ServiceMonitor finds the Service of every component, the operator's included, on its ops port.
    const sm = objects.find((o) => o.kind === 'ServiceMonitor')!;
    const monitored = objects.filter(
      (o) => o.kind === 'Service' && matches(sm.spec.selector.matchLabels, o.metadata.labels!) && o.metadata.labels!['winnow.dev/scrape'] !== 'false' && o.spec.ports.some((p: { name: string }) => p.name === 'ops'),
    );
    expect(monitored.map((s) => s.metadata.labels!['app.kubernetes.io/component']).sort()).toEqual(['classifier', 'collector', 'operator', 'stats']);
  });

  it('lets a platform team set the usual knobs on every workload', () => {
    const objects = render(
      '--set-json',
      JSON.stringify({
        image: { repository: 'registry.example/winnow', digest: `sha256:${'a'.repeat(64)}` },
        imagePullSecrets: [{ name: 'regcred' }],
        serviceAccount: { annotations: { 'iam.example/role': 'winnow' } },
        nodeSelector: { pool: 'mail' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mail', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
        podAnnotations: { 'team.example/owner': 'mail' },
        podLabels: { 'team.example/cost': 'mail' },
        extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }],
        priorityClassName: 'high',
        logLevel: 'debug',
        classifier: { resources: { requests: { cpu: '1', memory: '2Gi' } } },
      }),
    );
    for (const w of workloads(objects)) {
      const spec = w.spec.template.spec;
      const component = w.metadata.labels!['app.kubernetes.io/component']!;
      expect(spec.containers[0].image).toBe(`registry.example/winnow@sha256:${'a'.repeat(64)}`);
      expect(spec).toMatchObject({ imagePullSecrets: [{ name: 'regcred' }], nodeSelector: { pool: 'mail' }, priorityClassName: 'high', tolerations: [{ key: 'dedicated' }] });
      expect(spec.affinity.nodeAffinity).toBeDefined();
      expect(spec.topologySpreadConstraints[0]).toMatchObject({ maxSkew: 1, labelSelector: { matchLabels: { 'app.kubernetes.io/name': `winnow-${component}` } } });
      expect(w.spec.template.metadata.annotations['team.example/owner']).toBe('mail');
      expect(w.spec.template.metadata.labels['team.example/cost']).toBe('mail');
      expect(spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }, { name: 'WINNOW_LOG_LEVEL', value: 'debug' }]));
      if (component === 'classifier') expect(spec.containers[0].resources.requests).toEqual({ cpu: '1', memory: '2Gi' });
    }
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) expect(sa.metadata.annotations).toEqual({ 'iam.example/role': 'winnow' });
  });

  it('keeps the CRDs on uninstall, and puts them behind a switch', () => {
    const crds = render().filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(2);
    for (const c of crds) expect(c.metadata.annotations!['helm.sh/resource-policy']).toBe('keep');
    expect(render('--set', 'crds.install=false').filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(0);
    expect(render('--set', 'operator.enabled=false').filter((o) => o.kind === 'Role' || o.metadata.name.endsWith('-operator'))).toHaveLength(0);
  });

  it('alerts and charts only on metrics the services export', async () => {
    const exported = await exportedMetricNames();
    const objects = render(...ALL_ON);
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    const alerts = rule.spec.groups[0].rules as Array<{ alert: string; expr: string }>;
    expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining(['WinnowEventsDropped', 'WinnowCollectorSpoolFilling', 'WinnowDownstreamDown', 'WinnowTokensRejectedSpike', 'WinnowReconcileErrors', 'WinnowOperatorNoLeader']));
    for (const a of alerts) for (const m of metricsIn(a.expr)) expect(exported, `${a.alert}: ${m}`).toContain(m);
    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.labels!['grafana_dashboard']).toBe('1');
    const dashboard = JSON.parse(cm['data']['winnow.json']) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr))));
    expect(used.size).toBeGreaterThanOrEqual(12);
    for (const m of used) expect(exported, `dashboard: ${m}`).toContain(m);
  });

  it('offers a helm test that checks every service is ready, without a shell', () => {
    const pod = render().find((o) => o.kind === 'Pod')!;
    expect(pod.metadata.annotations!['helm.sh/hook']).toBe('test');
    const c = pod.spec.containers[0];
    expect(c.command).toEqual(['/nodejs/bin/node', '-e']);
    expect(c.args.slice(1)).toEqual(['http://w-winnow-collector:9100/readyz', 'http://w-winnow-classifier:9101/readyz', 'http://w-winnow-stats:9102/readyz', 'http://w-winnow-operator:9103/readyz']);
  });

  it('refuses unknown and wrongly typed values', () => {
    for (const bad of [['--set', 'collector.bogus=1'], ['--set', 'stats.replicas=-1'], ['--set', 'image.pullPolicy=Sometimes'], ['--set', 'unknownTop=1'], ['--set', 'image.digest=latest'], ['--set', 'logLevel=chatty'], ['--set', 'collector.spoolSizeLimit=2Gi'], ['--set', 'stats.replicas=2'], ['--set', 'collector.trustedProxies[0]=everyone']]) {
      const r = spawnSync(helm, ['template', 'w', chart, ...bad], { encoding: 'utf8' });
      expect(r.status, bad.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/schema/i);
    }
  });

  it('runs several stats replicas only on a MongoDB replica set, and replaces a single writer instead of rolling it', () => {
    const stats = (...args: string[]) => render(...args).find((o) => o.kind === 'Deployment' && o.metadata.name === 'w-winnow-stats')!;
    expect(stats().spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    expect(stats('--set', 'stats.replicas=3,stats.mongodbReplicaSet=true').spec).toMatchObject({ replicas: 3, strategy: { type: 'RollingUpdate' } });
  });

  it('trusts no proxy by default, and the ones named in collector.trustedProxies', () => {
    const env = (...args: string[]) =>
      (render(...args).find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'w-winnow-collector')!.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).find((e) => e.name === 'WINNOW_TRUSTED_PROXIES')!.value;
    expect(env()).toBe('');
    expect(env('--set', 'collector.trustedProxies={10.0.0.0/8,loopback}')).toBe('10.0.0.0/8,loopback');
  });

  it('turns gRPC TLS on in every pod from one Secret, names every gRPC Service in the certificate, and keeps the probes on plain HTTP', () => {
    const envOf = (w: Obj) => w.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    for (const w of workloads(render())) expect(envOf(w).find((e) => e.name === 'WINNOW_GRPC_TLS'), w.metadata.name).toBeUndefined();
    const objects = render('--set', 'grpcTls.mode=mtls,grpcTls.refreshSeconds=30,grpcTls.certManager.enabled=true,grpcTls.certManager.issuerRef.name=winnow-ca');
    const certificate = objects.find((o) => o.kind === 'Certificate')!;
    expect(certificate.spec).toMatchObject({ secretName: 'w-winnow-grpc-tls', issuerRef: { name: 'winnow-ca', kind: 'Issuer' } });
    expect(certificate.spec.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
    expect(workloads(objects)).toHaveLength(4);
    for (const w of workloads(objects)) {
      const pod = w.spec.template.spec;
      expect(envOf(w)).toEqual(expect.arrayContaining([{ name: 'WINNOW_GRPC_TLS', value: 'mtls' }, { name: 'WINNOW_GRPC_TLS_REFRESH_SECONDS', value: '30' }]));
      expect(pod.containers[0].volumeMounts).toEqual(expect.arrayContaining([{ name: 'grpc-tls', mountPath: '/etc/winnow/tls', readOnly: true }]));
      expect(pod.volumes).toEqual(expect.arrayContaining([{ name: 'grpc-tls', secret: { secretName: 'w-winnow-grpc-tls' } }]));
      expect(pod.containers[0].readinessProbe.httpGet.port).toBe('ops');
      // Every gRPC address a pod dials is a name the certificate holds.
      for (const e of envOf(w).filter((x) => /_ADDR$/.test(x.name))) expect(certificate.spec.dnsNames, e.name).toContain(e.value!.split(':')[0]);
    }
    // The collector keeps its spool volume beside the certificate.
    const collector = workloads(objects).find((w) => w.kind === 'StatefulSet')!;
    expect(collector.spec.template.spec.containers[0].volumeMounts.map((m: { name: string }) => m.name)).toContain('grpc-tls');
    expect(collector.spec.volumeClaimTemplates).toHaveLength(1);
    // A Secret made elsewhere, without cert-manager.
    const own = render('--set', 'grpcTls.mode=tls,grpcTls.secretName=my-certs');
    expect(own.find((o) => o.kind === 'Certificate')).toBeUndefined();
    for (const w of workloads(own)) expect(w.spec.template.spec.volumes).toEqual(expect.arrayContaining([{ name: 'grpc-tls', secret: { secretName: 'my-certs' } }]));
    expect(() => render('--set', 'grpcTls.mode=on')).toThrow(/grpcTls\/mode/);
    expect(() => render('--set', 'grpcTls.mode=tls,grpcTls.certManager.enabled=true')).toThrow(/issuerRef\/name/);
  });

  it('mounts the key-encryption key in the stats pods only', () => {
    for (const w of workloads(render('--set', 'secrets.keyEncryptionKey=my-kek'))) {
      const pod = w.spec.template.spec;
      const kek = (pod.volumes ?? []).find((v: { name: string }) => v.name === 'key-encryption-key');
      if (w.metadata.name !== 'w-winnow-stats') {
        expect(kek, w.metadata.name).toBeUndefined();
        continue;
      }
      expect(kek).toEqual({ name: 'key-encryption-key', secret: { secretName: 'my-kek', defaultMode: 288 } });
      expect(pod.containers[0].volumeMounts).toEqual(expect.arrayContaining([{ name: 'key-encryption-key', mountPath: '/etc/winnow/kek', readOnly: true }]));
      expect(pod.containers[0].env).toEqual(expect.arrayContaining([{ name: 'WINNOW_KEY_ENCRYPTION_KEY_FILE', value: '/etc/winnow/kek/key' }]));
    }
  });

  it('runs two classifier replicas by default: the classifier holds no history', () => {
    const classifier = render().find((o) => o.kind === 'Deployment' && o.metadata.name === 'w-winnow-classifier')!;
    expect(classifier.spec.replicas).toBe(2);
  });

  it('ships the same CRDs as deploy/', () => {
    const files = readdirSync(join(root, 'deploy', 'crds')).sort();
    expect(readdirSync(join(chart, 'files', 'crds')).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(chart, 'files', 'crds', f), 'utf8')).toBe(readFileSync(join(root, 'deploy', 'crds', f), 'utf8'));
  });
});
