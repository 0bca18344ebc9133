import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const deploy = join(__dirname, '..', '..', 'deploy');

interface Crd {
  spec: { names: { kind: string; shortNames?: string[] }; versions: Array<{ name: string; subresources?: { status?: object }; additionalPrinterColumns?: unknown[]; schema: { openAPIV3Schema: object } }> };
}

/** The CRD's structural schema as JSON Schema: Kubernetes extensions dropped (CEL rules are mirrored by anyOf/oneOf). */
function jsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchema);
  if (schema && typeof schema === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) if (!k.startsWith('x-kubernetes-')) out[k] = jsonSchema(v);
    return out;
  }
  return schema;
}

const crds = readdirSync(join(deploy, 'crds')).map((f) => parse(readFileSync(join(deploy, 'crds', f), 'utf8')) as Crd);
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validators = new Map(crds.map((c) => [c.spec.names.kind, ajv.compile(jsonSchema(c.spec.versions[0]!.schema.openAPIV3Schema) as object)]));

function check(doc: { kind: string }) {
  const v = validators.get(doc.kind);
  if (!v) throw new Error(`no CRD for ${doc.kind}`);
  const ok = v(doc);
  return { ok, errors: ajv.errorsText(v.errors) };
}

const td = (spec: Record<string, unknown>) => ({ apiVersion: 'winnow.dev/v1alpha1', kind: 'TrackingDomain', metadata: { name: 'x' }, spec });
const ss = (spec: Record<string, unknown>) => ({ apiVersion: 'winnow.dev/v1alpha1', kind: 'SuppressionSetting', metadata: { name: 'x' }, spec });

describe('custom resource definitions', () => {
  it('are v1alpha1 in winnow.dev with status subresource, printer columns and short names', () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['SuppressionSetting', 'TrackingDomain']);
    for (const c of crds) {
      const v = c.spec.versions[0]!;
      expect(v.name).toBe('v1alpha1');
      expect(v.subresources?.status).toEqual({});
      expect(v.additionalPrinterColumns!.length).toBeGreaterThan(2);
      expect(c.spec.names.shortNames!.length).toBeGreaterThan(0);
    }
  });

  it('accept every sample', () => {
    for (const f of readdirSync(join(deploy, 'samples'))) {
      for (const d of parseAllDocuments(readFileSync(join(deploy, 'samples', f), 'utf8'))) {
        const r = check(d.toJSON());
        expect(r.ok, `${f}: ${r.errors}`).toBe(true);
      }
    }
  });

  const invalid: Array<[string, { kind: string }]> = [
    ['no spec', { kind: 'TrackingDomain' }],
    ['missing hostname', td({ tenant: 'acme' })],
    ['upper-case hostname', td({ tenant: 'acme', hostname: 'Links.Acme.example' })],
    ['single-label hostname', td({ tenant: 'acme', hostname: 'localhost' })],
    ['hostname with a path', td({ tenant: 'acme', hostname: 'links.acme.example/x' })],
    ['tenant with underscore', td({ tenant: 'acme_health', hostname: 'links.acme.example' })],
    ['signing keys without a secret name', td({ tenant: 'acme', hostname: 'links.acme.example', signingKeys: { sealingKeyId: 'k1' } })],
    ['bad sealing key id', td({ tenant: 'acme', hostname: 'links.acme.example', signingKeys: { secretName: 's', sealingKeyId: 'far-too-long-id' } })],
    ['tls with both secret and issuer', td({ tenant: 'acme', hostname: 'links.acme.example', tls: { secretName: 's', issuerRef: { name: 'i' } } })],
    ['issuer of an unknown kind', td({ tenant: 'acme', hostname: 'links.acme.example', tls: { issuerRef: { name: 'i', kind: 'Vault' } } })],
    ['suppression without tenant', ss({})],
    ['unknown mode', ss({ tenant: 'acme', opens: { mode: 'Some' } })],
    ['unknown source', ss({ tenant: 'acme', clicks: { mode: 'Sources', sources: ['robots'] } })],
    ['people cannot be suppressed', ss({ tenant: 'acme', clicks: { mode: 'Sources', sources: ['human'] } })],
    ['mode Sources with no source', ss({ tenant: 'acme', opens: { mode: 'Sources' } })],
  ];
  it.each(invalid)('reject %s', (_name, doc) => {
    expect(check(doc).ok).toBe(false);
  });
});
