import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ApiKeyScope, ConfigService, PolicyMode, StatsService, StoredApiKeySchema } from '@winnow/proto';
import { generateApiKey } from '@winnow/tokens';
import { LmdbEventStore } from '@winnow/storage';
import { eventually, httpRequest } from '@winnow/testing';
import { CALL_NEEDS, DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';
import { runCli } from '../support/serve';

const { READ, WRITE, PREPARE, ADMIN } = ApiKeyScope;
const HTML = '<html><body><p>Your appointment: <a href="https://portal.clinic.example/appointments/7">details</a></p></body></html>';

describe('API keys that fit their job: scopes, expiry, preparing mail with a tenant key', () => {
  let stack: Stack;
  let service: { stats: ClientOf<typeof StatsService>; config: ClientOf<typeof ConfigService> };
  const clients: object[] = [];
  const as = (key: string) => {
    const c = { stats: createClient(StatsService, stack.statsAddress, { metadata: bearer(key) }), config: createClient(ConfigService, stack.statsAddress, { metadata: bearer(key) }) };
    clients.push(c.stats, c.config);
    return c;
  };
  const issue = async (scopes: ApiKeyScope[], tenant = DEMO_TENANT, expiresAtUnixMs = '0') =>
    (await service.config.createApiKey({ tenant, description: scopes.map((s) => ApiKeyScope[s]).join('+'), scopes, expiresAtUnixMs })).key;

  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    service = as(stack.serviceKey);
  });
  afterAll(async () => {
    for (const c of clients) closeClient(c);
    await stack.stop();
    removeDir(stack.dataDir);
  });

  it('maps every call of both services to a scope or to the service key', () => {
    const calls = [...StatsService.methods, ...ConfigService.methods].map((m) => `${m.parent.name}.${m.name}`).sort();
    expect(Object.keys(CALL_NEEDS).sort()).toEqual(calls);
  });

  it('refuses a call outside the key scopes, naming the scope it needs', async () => {
    const reader = as(await issue([READ]));
    await reader.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'none' });
    await reader.config.getSuppressionPolicy({ tenant: DEMO_TENANT });
    await expect(reader.stats.recordDeliveries({ deliveries: [{ tenant: DEMO_TENANT, campaign: 'c', message: 'm', deliveredAtUnixMs: '1', links: 1 }] })).rejects.toMatchObject({
      code: 'permission_denied',
      message: expect.stringMatching(/StatsService\.RecordDeliveries needs the write scope; this key holds read/),
    });
    await expect(reader.config.putSuppressionPolicy({ policy: { tenant: DEMO_TENANT, opens: { allAutomated: true } } })).rejects.toMatchObject({ message: expect.stringMatching(/needs the admin scope/) });
    await expect(reader.config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'c', message: 'm', hostname: DEMO_HOSTNAME, html: HTML })).rejects.toMatchObject({ message: expect.stringMatching(/needs the prepare scope/) });
    await expect(reader.config.listTrackingDomains({})).rejects.toMatchObject({ code: 'permission_denied', message: expect.stringMatching(/needs the service key/) });
    await expect(reader.stats.ingestEvents({ events: [] })).rejects.toMatchObject({ message: expect.stringMatching(/needs the service key/) });
  });

  it('lets a prepare key seal mail for its own tenant only, without ever holding a signing key', async () => {
    const preparer = as(await issue([PREPARE]));
    const r = await preparer.config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'appointments', message: 'a-1', hostname: DEMO_HOSTNAME, html: HTML, baseUrl: `http://${DEMO_HOSTNAME}` });
    expect(r).toMatchObject({ trackedLinks: 1, deliveryRecorded: true });
    expect(r.html).not.toContain('portal.clinic.example');
    const domain = (await service.config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!;
    for (const k of domain.keys) {
      expect(r.html).not.toContain(Buffer.from(k.secret).toString('base64url'));
      expect(r.html).not.toContain(Buffer.from(k.secret).toString('base64'));
    }
    // Its links work on the collector, and the delivery is counted.
    const link = /Your appointment: <a href="http:\/\/demo-clinic\.localhost(\/c\/[A-Za-z0-9_-]+)"/.exec(r.html)![1]!;
    const click = await httpRequest({ port: stack.collector.ports.http!, path: link, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0' } });
    expect(click.headers.location).toBe('https://portal.clinic.example/appointments/7');
    const s = await eventually(() => service.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'appointments', policyMode: PolicyMode.INCLUDE_AUTOMATED }), (x) => x.stats!.all!.clicks === '1');
    expect(s.stats!.delivered).toBe('1');
    // Nothing else: it cannot read the numbers, nor prepare for a domain of another tenant.
    await expect(preparer.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'appointments' })).rejects.toMatchObject({ code: 'permission_denied' });
    await service.config.putTrackingDomain({ domain: { hostname: 'links.other.example', tenant: 'other', keys: [{ id: 'k1', secret: new Uint8Array(32).fill(7), sealing: true }] } });
    await expect(preparer.config.prepareEmail({ tenant: 'other', campaign: 'c', message: 'm', hostname: 'links.other.example', html: HTML })).rejects.toMatchObject({ code: 'permission_denied' });
    await expect(preparer.config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'c', message: 'm', hostname: 'links.other.example', html: HTML })).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/no tracking domain links\.other\.example is registered for tenant/),
    });
    await expect(preparer.config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'c', message: 'jane@contoso.org', hostname: DEMO_HOSTNAME, html: HTML })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/email address/),
    });
  });

  it('serves the command line with a tenant prepare key (no service key anywhere)', async () => {
    const key = await issue([PREPARE]);
    const env = { WINNOW_SERVICE_KEY: '', WINNOW_DATA_DIR: join(stack.dataDir, 'nowhere') };
    const r = await runCli(['prepare-email', '--tenant', DEMO_TENANT, '--campaign', 'cli', '--message', 'c-1', '--host', DEMO_HOSTNAME, '--stats', stack.statsAddress, '--key', key], HTML, env);
    expect(r.stderr).toMatch(/prepared c-1: 1 tracked links, 1 trap link, 1 pixel; delivery recorded/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/<img src="https:\/\/demo-clinic\.localhost\/o\/[A-Za-z0-9_-]+\.gif"/);
    const denied = await runCli(['prepare-email', '--tenant', DEMO_TENANT, '--campaign', 'cli', '--message', 'c-2', '--host', DEMO_HOSTNAME, '--stats', stack.statsAddress, '--key', await issue([READ])], HTML, env);
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/needs the prepare scope/);
  });

  it('lets an admin key issue keys for its tenant with no scope it lacks itself', async () => {
    const admin = as(await issue([READ, ADMIN]));
    const issued = await admin.config.createApiKey({ tenant: DEMO_TENANT, description: 'reports', scopes: [READ] });
    expect(issued.info!.scopes).toEqual([READ]);
    await expect(admin.config.createApiKey({ tenant: DEMO_TENANT, scopes: [PREPARE] })).rejects.toMatchObject({ code: 'permission_denied', message: expect.stringMatching(/prepare scope it does not hold/) });
    await expect(admin.config.createApiKey({ tenant: 'other', scopes: [READ] })).rejects.toMatchObject({ code: 'permission_denied' });
    await expect(service.config.createApiKey({ tenant: DEMO_TENANT, scopes: [99 as ApiKeyScope] })).rejects.toMatchObject({ code: 'invalid_argument' });
    const listed = await admin.config.listApiKeys({ tenant: DEMO_TENANT });
    expect(listed.keys.find((k) => k.keyId === issued.info!.keyId)!.scopes).toEqual([READ]);
  });

  it('stops a key at its expiry, and refuses an expiry in the past', async () => {
    // 5 s leaves a loaded machine time to issue the key and use it once before it expires.
    const expiresAt = Date.now() + 5_000;
    const key = await issue([READ], DEMO_TENANT, String(expiresAt));
    const c = as(key);
    await c.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'x' });
    await new Promise((r) => setTimeout(r, expiresAt + 100 - Date.now()));
    await expect(c.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'x' })).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/expired at/) });
    await expect(issue([READ], DEMO_TENANT, String(Date.now() - 1000))).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('keeps read and write for a key stored before scopes existed', async () => {
    await stack.stop();
    const old = generateApiKey();
    const store = new LmdbEventStore(join(stack.dataDir, 'store'));
    try {
      await store.putApiKey(create(StoredApiKeySchema, { info: { keyId: old.keyId, tenant: DEMO_TENANT, description: 'from 2026.10', createdAtUnixMs: '1' }, secretSha256: old.secretSha256 }));
    } finally {
      await store.close();
    }
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error', WINNOW_SERVICE_KEY: stack.serviceKey }, stack.dataDir);
    service = as(stack.serviceKey);
    const legacy = as(old.key);
    await legacy.stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'x' });
    await legacy.stats.recordDeliveries({ deliveries: [{ tenant: DEMO_TENANT, campaign: 'legacy', message: 'm', deliveredAtUnixMs: String(Date.now()), links: 1 }] });
    await expect(legacy.config.putSuppressionPolicy({ policy: { tenant: DEMO_TENANT, opens: { allAutomated: true } } })).rejects.toMatchObject({ code: 'permission_denied' });
    expect((await service.config.listApiKeys({ tenant: DEMO_TENANT })).keys.find((k) => k.keyId === old.keyId)!.scopes).toEqual([READ, WRITE]);
  });
});
