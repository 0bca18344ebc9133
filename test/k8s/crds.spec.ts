import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubeAvailable, kubeMissingNotice, startKube, type KubeServer } from '../support/kube-apiserver';

const deploy = join(__dirname, '..', '..', 'deploy');
const run = kubeAvailable() || process.env['CI'] === 'true';
if (!run) console.warn(`skipping the real-API-server CRD tests: ${kubeMissingNotice()}`);

const td = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'winnow.dev/v1alpha1', kind: 'TrackingDomain', metadata: { name, namespace: 'winnow' }, spec });
const ss = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'winnow.dev/v1alpha1', kind: 'SuppressionSetting', metadata: { name, namespace: 'winnow' }, spec });

describe.runIf(run)('the CRDs on a real Kubernetes API server (schema and CEL rules as a cluster applies them)', () => {
  let kube: KubeServer;

  beforeAll(async () => {
    expect(kubeAvailable(), kubeMissingNotice()).toBe(true);
    kube = await startKube();
    await kube.kubectl(['apply', '-f', join(deploy, 'crds')]);
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/trackingdomains.winnow.dev', 'crd/suppressionsettings.winnow.dev']);
    await kube.kubectl(['create', 'namespace', 'winnow']);
  }, 90_000);

  afterAll(async () => kube?.stop());

  it('accepts every sample', async () => {
    for (const f of readdirSync(join(deploy, 'samples'))) {
      const out = await kube.kubectl(['apply', '-n', 'winnow', '-f', join(deploy, 'samples', f)]);
      expect(out, f).toMatch(/created|configured/);
    }
    const names = await kube.kubectl(['get', 'trackingdomains,suppressionsettings', '-n', 'winnow', '-o', 'name']);
    expect(names.trim().split('\n').length).toBeGreaterThanOrEqual(3);
  });

  const invalid: Array<[string, object, RegExp]> = [
    ['no spec', { apiVersion: 'winnow.dev/v1alpha1', kind: 'TrackingDomain', metadata: { name: 'nospec', namespace: 'winnow' } }, /spec: Required value/],
    ['missing hostname', td('bad-a', { tenant: 'acme' }), /hostname: Required value/],
    ['upper-case hostname', td('bad-b', { tenant: 'acme', hostname: 'Links.Acme.example' }), /hostname/],
    ['single-label hostname', td('bad-c', { tenant: 'acme', hostname: 'localhost' }), /hostname/],
    ['hostname with a path', td('bad-d', { tenant: 'acme', hostname: 'links.acme.example/x' }), /hostname/],
    ['tenant with underscore', td('bad-e', { tenant: 'acme_health', hostname: 'links.acme.example' }), /tenant/],
    ['signing keys without a secret name', td('bad-f', { tenant: 'acme', hostname: 'links.acme.example', signingKeys: { sealingKeyId: 'k1' } }), /secretName: Required value/],
    ['bad sealing key id', td('bad-g', { tenant: 'acme', hostname: 'links.acme.example', signingKeys: { secretName: 's', sealingKeyId: 'far-too-long-id' } }), /sealingKeyId/],
    ['tls with both secret and issuer', td('bad-h', { tenant: 'acme', hostname: 'links.acme.example', tls: { secretName: 's', issuerRef: { name: 'i' } } }), /tls/],
    ['issuer of an unknown kind', td('bad-i', { tenant: 'acme', hostname: 'links.acme.example', tls: { issuerRef: { name: 'i', kind: 'Vault' } } }), /kind/],
    ['a negative rotation period', td('bad-o', { tenant: 'acme', hostname: 'links.acme.example', keyRotation: { everyDays: -1 } }), /everyDays/],
    ['a rotation period in text', td('bad-p', { tenant: 'acme', hostname: 'links.acme.example', keyRotation: { everyDays: '90d' } }), /everyDays/],
    ['a name too long to label the Ingress', td(`n${'x'.repeat(63)}`, { tenant: 'acme', hostname: 'links.acme.example' }), /at most 63 characters/],
    ['a signing-key Secret name that is no object name', td('bad-q', { tenant: 'acme', hostname: 'links.acme.example', signingKeys: { secretName: 'keys/status' } }), /secretName/],
    ['a TLS Secret name that is no object name', td('bad-r', { tenant: 'acme', hostname: 'links.acme.example', tls: { secretName: 'Bad_Name' } }), /secretName/],
    ['suppression without tenant', ss('bad-j', {}), /tenant: Required value/],
    ['unknown mode', ss('bad-k', { tenant: 'acme', opens: { mode: 'Some' } }), /mode/],
    ['unknown source', ss('bad-l', { tenant: 'acme', clicks: { mode: 'Sources', sources: ['robots'] } }), /sources/],
    ['people cannot be suppressed', ss('bad-m', { tenant: 'acme', clicks: { mode: 'Sources', sources: ['human'] } }), /sources/],
    ['mode Sources with no source', ss('bad-n', { tenant: 'acme', opens: { mode: 'Sources' } }), /opens/],
  ];
  it.each(invalid)('refuses %s, saying why', async (_name, doc, why) => {
    const err = await kube.kubectl(['apply', '-f', '-'], stringify(doc)).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toBeDefined();
    expect(err).toMatch(/is invalid|Invalid value|Unsupported value|Required value/);
    expect(err).toMatch(why);
  });

  it('keeps status behind its subresource and counts generations', async () => {
    await kube.kubectl(['apply', '-f', '-'], stringify(td('gen', { tenant: 'acme', hostname: 'links.gen.example' })));
    const get = async () => JSON.parse(await kube.kubectl(['get', 'trackingdomain', 'gen', '-n', 'winnow', '-o', 'json'])) as { metadata: { generation: number }; status?: object };
    expect((await get()).metadata.generation).toBe(1);
    await kube.kubectl(['patch', 'trackingdomain', 'gen', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ status: { signingKeySecret: 'x' } })]);
    expect((await get()).status).toBeUndefined(); // a patch of the main resource cannot write status
    await kube.kubectl(['patch', 'trackingdomain', 'gen', '-n', 'winnow', '--type=merge', '--subresource=status', '-p', JSON.stringify({ status: { signingKeySecret: 'x' } })]);
    expect((await get()).status).toMatchObject({ signingKeySecret: 'x' });
    await kube.kubectl(['patch', 'trackingdomain', 'gen', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ spec: { keyRotation: { everyDays: 30 } } })]);
    expect((await get()).metadata.generation).toBe(2);
  });

  it("refuses a change of a resource's tenant or hostname, which would leave the old registration behind in stats", async () => {
    await kube.kubectl(['apply', '-f', '-'], stringify(td('fixed', { tenant: 'acme', hostname: 'links.fixed.example' })));
    await kube.kubectl(['apply', '-f', '-'], stringify(ss('fixed', { tenant: 'acme' })));
    const refused = (args: string[]) =>
      kube.kubectl(args).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    expect(await refused(['patch', 'trackingdomain', 'fixed', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ spec: { tenant: 'globex' } })])).toMatch(/spec.tenant cannot change/);
    expect(await refused(['patch', 'trackingdomain', 'fixed', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ spec: { hostname: 'links.other.example' } })])).toMatch(/spec.hostname cannot change/);
    expect(await refused(['patch', 'suppressionsetting', 'fixed', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ spec: { tenant: 'globex' } })])).toMatch(/spec.tenant cannot change/);
    // Other fields still change.
    expect(await refused(['patch', 'trackingdomain', 'fixed', '-n', 'winnow', '--type=merge', '-p', JSON.stringify({ spec: { keyRotation: { everyDays: 7 } } })])).toBe('accepted');
  });
});

