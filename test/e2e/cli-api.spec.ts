import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, PolicyMode, StatsService } from '@winnow/proto';
import { parseApiKey } from '@winnow/tokens';
import { eventually, freePort, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';
import { CLI, runCli } from '../support/serve';
import { spawn } from 'node:child_process';

// The command line for the whole API, against the real stack, checked against what the gRPC API
// answers for the same question.
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0';
const HTML = '<html><body><p><a href="https://portal.clinic.example/results">Your results</a></p><p><a href="https://clinic.example/unsubscribe">Unsubscribe</a></p></body></html>';

describe('winnow stats, links, timeline, events, keys, domains, policy', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;
  let config: ClientOf<typeof ConfigService>;
  const dir = mkdtempSync(join(tmpdir(), 'winnow-cli-api-'));
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli([...args, '--stats', stack.statsAddress], '', env);

  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error' });
    env = { WINNOW_SERVICE_KEY: stack.serviceKey, WINNOW_API_KEY: '', WINNOW_DATA_DIR: join(dir, 'none') };
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    for (const message of ['r-1', 'r-2', 'r-3']) {
      const html = (await config.prepareEmail({ tenant: DEMO_TENANT, campaign: 'results', message, hostname: DEMO_HOSTNAME, html: HTML, baseUrl: `http://${DEMO_HOSTNAME}` })).html;
      const pixel = /<img src="http:\/\/demo-clinic\.localhost(\/o\/[^"]+)"/.exec(html)![1]!;
      const [content, unsubscribe] = [...html.matchAll(/<p><a href="http:\/\/demo-clinic\.localhost(\/c\/[^"]+)"/g)].map((m) => m[1]!);
      const get = (path: string, ua = FIREFOX) => httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': ua, 'accept-language': 'en' } });
      await get(pixel!);
      if (message !== 'r-3') await get(content!);
      if (message === 'r-2') await get(unsubscribe!);
    }
    await eventually(() => stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'results', policyMode: PolicyMode.INCLUDE_AUTOMATED }), (s) => s.stats!.all!.opens === '3' && s.stats!.all!.clicks === '3', 15_000);
  });
  afterAll(async () => {
    closeClient(stats);
    closeClient(config);
    await stack.stop();
    removeDir(stack.dataDir);
    removeDir(dir);
  });

  it('prints a campaign as a table and as JSON, the same figures the API gives', async () => {
    const api = (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'results' })).stats!;
    const t = await cli('stats', 'results', '--tenant', DEMO_TENANT);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain(`campaign results (tenant ${DEMO_TENANT}): 3 delivered; policy: the tenant's`);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const f = api.reported!;
    expect(t.stdout).toMatch(new RegExp(`reported\\s+${f.opens}\\s+${f.uniqueOpens}\\s+${f.clicks}\\s+${f.uniqueClicks}\\s+${pct(f.openRate)}\\s+${pct(f.clickThroughRate)}\\s+${pct(f.clickToOpenRate)}`));
    const j = await cli('stats', 'results', '--tenant', DEMO_TENANT, '--json');
    expect(JSON.parse(j.stdout)).toMatchObject({ delivered: '3', reported: { opens: api.reported!.opens, clicks: api.reported!.clicks } });
    const preview = JSON.parse((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--leave-out', 'apple_mpp,bot', '--json')).stdout);
    expect(preview.appliedPolicy).toMatchObject({ suppressedOpenSources: ['SOURCE_APPLE_MPP', 'SOURCE_BOT'] });
  });

  it('lists links with the unsubscribe link apart', async () => {
    const api = await stats.getLinkStats({ tenant: DEMO_TENANT, campaign: 'results', policyMode: PolicyMode.INCLUDE_AUTOMATED });
    const r = await cli('links', 'results', '--tenant', DEMO_TENANT, '--include-automated');
    expect(r.status, r.stderr).toBe(0);
    expect(api.links.map((l) => l.link)).toEqual([0, 1]);
    for (const l of api.links) {
      const role = l.link === 0 ? 'content' : 'unsubscribe';
      expect(r.stdout).toMatch(new RegExp(`^${l.link}\\s+${role}\\s+${l.clicks}\\s+${l.uniqueClickers}\\s+${l.humanClicks}\\s+${l.humanUniqueClickers}\\s+${l.automatedClicks}\\s+${l.automatedUniqueClickers}`, 'm'));
    }
    // Two clicks on the content link and one on the unsubscribe link, whoever made them.
    expect([Number(api.links[0]!.clicks), Number(api.links[1]!.clicks)]).toEqual([2, 1]);
    expect(r.stdout).toContain(`engagement clicks ${api.contentClicks} (${api.contentUniqueClickers} unique); unsubscribe clicks ${api.unsubscribeClicks} (${api.unsubscribeUniqueClickers} unique)`);
    expect(JSON.parse((await cli('links', 'results', '--tenant', DEMO_TENANT, '--json')).stdout).links[1].role).toBe('LINK_ROLE_UNSUBSCRIBE');
  });

  it("shows one recipient's timeline with the evidence", async () => {
    const r = await cli('timeline', 'r-2', '--tenant', DEMO_TENANT);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('message r-2 (campaign results');
    expect(r.stdout.split('\n').filter((l) => /^\d{4}-/.test(l))).toHaveLength(3);
    const j = JSON.parse((await cli('timeline', 'r-2', '--tenant', DEMO_TENANT, '--json')).stdout);
    expect(j.events.map((e: { kind: string; role: string }) => `${e.kind}:${e.role}`).sort()).toEqual(['click:content', 'click:unsubscribe', 'open:']);
    const missing = await cli('timeline', 'nobody', '--tenant', DEMO_TENANT);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no message nobody for tenant demo-clinic: check the tenant and the name/);
  });

  it('streams events as JSON lines and as CSV, to a file too', async () => {
    const api = (await stats.listEvents({ filter: { tenant: DEMO_TENANT, campaign: 'results' }, pageSize: 1000 })).events;
    const jsonl = (await cli('events', '--tenant', DEMO_TENANT, '--campaign', 'results')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(jsonl.map((e) => e.id).sort()).toEqual(api.map((e) => e.event!.id).sort());
    const out = join(dir, 'events.csv');
    const r = await cli('events', '--tenant', DEMO_TENANT, '--campaign', 'results', '--kind', 'click', '--format', 'csv', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('id,at,campaign,message,kind,link,role,method,actor,source,confidence,reasons,revision');
    expect(rows).toHaveLength(4);
    expect((await cli('events', '--tenant', DEMO_TENANT, '--format', 'xml')).status).toBe(2);
    // A run that fails (here: a wrong key) leaves the earlier export as it was, not a header alone.
    const before = readFileSync(out, 'utf8');
    const failed = await cli('events', '--tenant', DEMO_TENANT, '--format', 'csv', '--out', out, '--key', 'wk_nope');
    expect(failed.status).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.includes('.partial-'))).toEqual([]);
    const nowhere = await cli('events', '--tenant', DEMO_TENANT, '--out', join(dir, 'no-such-dir', 'x.csv'));
    expect([nowhere.status, nowhere.stderr]).toEqual([1, expect.stringMatching(/--out .*x\.csv: cannot write there \(ENOENT\)/)]);
  });


  it('creates, lists and revokes keys; a read key reads and is told what it lacks', async () => {
    const created = await cli('keys', 'create', '--tenant', DEMO_TENANT, '--scope', 'read', '--expires', '30d', '--description', 'dashboard');
    expect(created.status, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^wk_/);
    expect(created.stderr).toMatch(/scopes read, expires 20\d\d-/);
    const listed = await cli('keys', 'list', '--tenant', DEMO_TENANT);
    expect(listed.stdout).toMatch(/read\s+20\d\d-\S+\s+20\d\d-\S+\s+dashboard/);
    const asReader = await runCli(['stats', 'results', '--tenant', DEMO_TENANT, '--stats', stack.statsAddress, '--key', key], '', env);
    expect(asReader.status, asReader.stderr).toBe(0);
    const denied = await runCli(['policy', 'set', '--tenant', DEMO_TENANT, '--all-automated', '--stats', stack.statsAddress, '--key', key], '', env);
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/needs the admin scope; this key holds read: use a key of this tenant with the scope the call needs/);
    const keyId = parseApiKey(key)!.keyId; // ids are base64url: they may hold '_' themselves
    expect((await cli('keys', 'revoke', keyId)).stdout).toBe(`revoked ${keyId}\n`);
    const revoked = await runCli(['stats', 'results', '--tenant', DEMO_TENANT, '--stats', stack.statsAddress, '--key', key], '', env);
    expect(revoked.stderr).toMatch(/unknown or revoked API key: give an API key with --key or WINNOW_API_KEY/);
    // An id made before new ids stopped beginning with '-' is given after '--', not read as options.
    const dashed = await runCli(['keys', 'revoke', '--stats', stack.statsAddress, '--', '-dVf1dkbDBvy'], '', env);
    expect([dashed.status, dashed.stdout]).toEqual([1, 'no key -dVf1dkbDBvy\n']);
  });

  it('adds and rotates a tracking domain without printing a key', async () => {
    expect((await cli('domains', 'add', 'links.acme.example', '--tenant', 'acme')).stdout).toBe('registered links.acme.example for tenant acme with key k1\n');
    expect((await cli('domains', 'rotate', 'links.acme.example')).stdout).toBe('links.acme.example: keys k1, k2; k2 seals new links\n');
    expect((await cli('domains', 'rotate', 'links.acme.example', '--retire', 'k2')).stderr).toMatch(/k2 seals new links: rotate first/);
    expect((await cli('domains', 'rotate', 'links.acme.example', '--retire', 'k1')).stdout).toBe('links.acme.example: keys k2; k2 seals new links\n');
    const list = await cli('domains', 'list');
    expect(list.stdout).toMatch(/links\.acme\.example\s+acme\s+k2\s+k2/);
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === 'links.acme.example')!;
    expect(list.stdout).not.toContain(Buffer.from(domain.keys[0]!.secret).toString('base64'));
  });

  it('sets the policy, reads it back, and previews another on a campaign before setting it', async () => {
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--opens', 'apple_mpp', '--clicks', 'none')).stdout).toBe(`tenant ${DEMO_TENANT}: leaves out of opens apple_mpp; of clicks nothing\n`);
    expect((await cli('policy', 'get', '--tenant', DEMO_TENANT)).stdout).toBe(`tenant ${DEMO_TENANT}: leaves out of opens apple_mpp; of clicks nothing\n`);
    const preview = await cli('policy', 'preview', 'results', '--tenant', DEMO_TENANT, '--opens', 'apple_mpp,gmail_prefetch', '--clicks', 'security_scanner');
    expect(preview.status, preview.stderr).toBe(0);
    expect(preview.stdout).toMatch(/preview: previewed; left out of opens: apple_mpp, gmail_prefetch; of clicks: security_scanner/);
    const now = (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign: 'results' })).stats!.reported!;
    expect(preview.stdout).toMatch(new RegExp(`^now\\s+${now.opens}\\s+${now.uniqueOpens}\\s+${now.clicks}\\s+${now.uniqueClicks}`, 'm'));
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--opens', 'human')).stderr).toMatch(/people are never left out/);
    // One side given: the other stays as it was (before, it was silently emptied; found by probing).
    await cli('policy', 'set', '--tenant', DEMO_TENANT, '--opens', 'none', '--clicks', 'security_scanner');
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--opens', 'apple_mpp')).stdout).toBe(`tenant ${DEMO_TENANT}: leaves out of opens apple_mpp; of clicks security_scanner\n`);
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--all-automated')).stdout).toBe(`tenant ${DEMO_TENANT}: leaves out of opens every automated source; of clicks every automated source\n`);
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--clicks', 'none')).stdout).toBe(`tenant ${DEMO_TENANT}: leaves out of opens every automated source; of clicks nothing\n`);
    const all = await cli('policy', 'preview', 'results', '--tenant', DEMO_TENANT, '--all-automated');
    expect(all.stdout).toMatch(/preview: previewed; left out of opens: apple_mpp, gmail_prefetch, .*security_scanner/);
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT)).status).toBe(2);
    expect((await cli('policy', 'set', '--tenant', DEMO_TENANT, '--all-automated', '--opens', 'none')).status).toBe(2);
  });

  it('says what went wrong and what to do', async () => {
    const noKey = await runCli(['stats', 'results', '--tenant', DEMO_TENANT, '--stats', stack.statsAddress], '', { ...env, WINNOW_SERVICE_KEY: '' });
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toMatch(/set WINNOW_SERVICE_KEY/);
    const down = await runCli(['stats', 'results', '--tenant', DEMO_TENANT, '--stats', `127.0.0.1:${await freePort()}`], '', env);
    expect(down.stderr).toMatch(/the statistics service did not answer .*is it running, and is --stats or WINNOW_STATS_ADDR its gRPC address\?/);
    // `--key "$UNSET"` must not run with the service key (found by probing).
    const emptyKey = await cli('stats', 'results', '--tenant', DEMO_TENANT, '--key', '');
    expect([emptyKey.status, emptyKey.stdout]).toEqual([1, '']);
    expect(emptyKey.stderr).toMatch(/--key is empty/);
    const usage = await cli('stats', '--tenant', DEMO_TENANT);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/CAMPAIGN is required[\s\S]*usage: winnow stats CAMPAIGN/);
    expect((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--include-automated', '--exclude-automated')).status).toBe(2);
  });

  it('holds a command line to what it says: usage errors exit 2, a misspelt campaign is said, JSON keeps zeros', async () => {
    // Usage errors are 2 in every command (some were 1, and a repeated option ran on its last value).
    for (const args of [
      ['stats', 'results', '--tenant', DEMO_TENANT, '--tenant', 'other-tenant'],
      ['stats', 'results', '--tenant', DEMO_TENANT, '--no-such-option'],
      ['stats', 'results', 'extra', '--tenant', DEMO_TENANT],
      ['events', '--tenant', DEMO_TENANT, '--until', '1969-12-31'],
      ['reclassify'],
      ['erase', '--tenant', DEMO_TENANT],
      ['dead-letters', 'replay'],
      ['prepare-email', '--tenant', DEMO_TENANT],
    ]) {
      const r = await cli(...args);
      expect([args.join(' '), r.status]).toEqual([args.join(' '), 2]);
      expect(r.stderr, args.join(' ')).toMatch(/usage: winnow|1970/);
    }
    expect((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--tenant', 'x')).stderr).toMatch(/--tenant is given more than once/);
    // A campaign with nothing recorded is most likely misspelt: said on stderr; no empty report.
    const typo = await cli('stats', 'reslts', '--tenant', DEMO_TENANT);
    expect(typo.status).toBe(0);
    expect(typo.stderr).toMatch(/nothing is recorded for campaign "reslts" of tenant "demo-clinic"/);
    expect((await cli('stats', 'results', '--tenant', DEMO_TENANT)).stderr).toBe('');
    const report = join(dir, 'typo.html');
    const r = await cli('report', 'reslts', '--tenant', DEMO_TENANT, '--out', report);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nothing is recorded .*no report written/);
    expect(existsSync(report)).toBe(false);
    // --json keeps fields whose value is 0 (most automated sources have none here): every figure is there.
    const j = JSON.parse((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--json')).stdout);
    expect(j.automatedBySource.length).toBeGreaterThan(1);
    for (const x of j.automatedBySource) expect(Object.keys(x.figures).sort(), JSON.stringify(x)).toEqual(['clickThroughRate', 'clickToOpenRate', 'clicks', 'openRate', 'opens', 'uniqueClicks', 'uniqueOpens']);
    expect(j.automatedBySource.some((x: { figures: { opens: string } }) => x.figures.opens === '0')).toBe(true);
  });

  it('previews one side of a policy with the other as the tenant has it', async () => {
    await cli('policy', 'set', '--tenant', DEMO_TENANT, '--opens', 'none', '--clicks', 'security_scanner');
    const j = JSON.parse((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--leave-out-opens', 'apple_mpp', '--json')).stdout);
    expect(j.appliedPolicy).toMatchObject({ suppressedOpenSources: ['SOURCE_APPLE_MPP'], suppressedClickSources: ['SOURCE_SECURITY_SCANNER'] });
    const both = JSON.parse((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--leave-out-opens', 'apple_mpp', '--leave-out-clicks', 'bot', '--json')).stdout);
    expect(both.appliedPolicy).toMatchObject({ suppressedOpenSources: ['SOURCE_APPLE_MPP'], suppressedClickSources: ['SOURCE_BOT'] });
    expect((await cli('stats', 'results', '--tenant', DEMO_TENANT, '--leave-out', 'bot', '--leave-out-opens', 'apple_mpp')).status).toBe(2);
  });

  it('runs service-key commands with the service key even when WINNOW_API_KEY holds a tenant key', async () => {
    const created = await cli('keys', 'create', '--tenant', DEMO_TENANT, '--scope', 'read', '--json');
    const tenantKey = JSON.parse(created.stdout).key as string;
    const withTenantKey = { ...env, WINNOW_API_KEY: tenantKey };
    const started = await runCli(['reclassify', '--tenant', DEMO_TENANT, '--no-wait', '--stats', stack.statsAddress], '', withTenantKey);
    expect(started.status, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/reclassification of demo-clinic under .* started/);
    // A tenant's own dead letters are readable with its key; --key names one explicitly.
    expect((await runCli(['dead-letters', 'list', '--tenant', DEMO_TENANT, '--stats', stack.statsAddress], '', withTenantKey)).status).toBe(0);
    const denied = await runCli(['reclassify', '--tenant', DEMO_TENANT, '--no-wait', '--key', tenantKey, '--stats', stack.statsAddress], '', env);
    expect(denied.status).toBe(1);
  });

  it('stops quietly when the reader of its output goes away (winnow events | head)', async () => {
    const child = spawn(process.execPath, [CLI, 'events', '--tenant', DEMO_TENANT, '--stats', stack.statsAddress], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Close the pipe before the command writes anything, as `head` does once it has its lines.
    child.stdout.destroy();
    const status = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(status).toBe(0);
  });

  it('checks where prepare-email writes before it records a delivery, and says which links it could not track', async () => {
    const missing = join(dir, 'no-such-dir', 'mail.html');
    const r = await runCli(['prepare-email', '--tenant', DEMO_TENANT, '--campaign', 'outdir', '--message', 'od-1', '--host', DEMO_HOSTNAME, '--out', missing, '--stats', stack.statsAddress], HTML, env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--out .*cannot write there \(ENOENT\); nothing was prepared or recorded/);
    await expect(stats.getMessageTimeline({ tenant: DEMO_TENANT, message: 'od-1' })).rejects.toMatchObject({ code: 'not_found' });
    const long = `https://portal.clinic.example/results?${'q'.repeat(3500)}`;
    const ok = await runCli(['prepare-email', '--tenant', DEMO_TENANT, '--campaign', 'outdir', '--message', 'od-2', '--host', DEMO_HOSTNAME, '--stats', stack.statsAddress], `<html><body><a href="${long}">long</a>${HTML}</body></html>`, env);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/prepared od-2: 2 tracked links[\s\S]*warning: 1 link\(s\) left untracked/);
    expect(ok.stdout).toContain(`href="${long}"`);
  });
});
