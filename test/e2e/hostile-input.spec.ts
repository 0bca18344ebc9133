import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ConfigService, LinkRole, PolicyMode, StatsService } from '@winnow/proto';
import { clickPath, keyringOf, pixelPath, type Keyring, type MessageRef } from '@winnow/tokens';
import { eventually, httpRequest, metricValue } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';

const FIREFOX = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0', 'accept-language': 'en' };
const CAMPAIGN = 'hostile';

/** Opens a raw TCP connection, writes `data`, and resolves with how long until the server closed it. */
function timeToClose(port: number, data: string, limitMs: number): Promise<{ ms: number; reply: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let reply = '';
    const sock = connect(port, '127.0.0.1', () => sock.write(data));
    sock.on('data', (d) => (reply += d.toString()));
    const t = setTimeout(() => {
      sock.destroy();
      resolve({ ms: Infinity, reply });
    }, limitMs);
    sock.on('close', () => {
      clearTimeout(t);
      resolve({ ms: Date.now() - started, reply });
    });
    sock.on('error', () => undefined);
  });
}

describe('the collector against hostile and unusual input', () => {
  let stack: Stack;
  let stats: ClientOf<typeof StatsService>;
  let config: ClientOf<typeof ConfigService>;
  let keyring: Keyring;
  const msg = (message: string, campaign = CAMPAIGN): MessageRef => ({ tenant: DEMO_TENANT, campaign, message, sentAtUnixS: String(Math.floor(Date.now() / 1000)), links: 2 });
  const hit = (path: string, method = 'GET', headers: Record<string, string> = FIREFOX, host = DEMO_HOSTNAME) =>
    httpRequest({ port: stack.collector.ports.http!, path, host, method, headers });
  const metrics = async () => (await httpRequest({ port: stack.collector.ports.ops!, path: '/metrics' })).body.toString();
  const all = async (campaign = CAMPAIGN) => (await stats.getCampaignStats({ tenant: DEMO_TENANT, campaign, policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats!.all!;

  beforeAll(async () => {
    stack = await startStack({ WINNOW_HEADERS_TIMEOUT_MS: '1000', WINNOW_REQUEST_TIMEOUT_MS: '2000', WINNOW_IDLE_TIMEOUT_MS: '1500', WINNOW_LOG_LEVEL: 'error' });
    stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
    keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
  });
  afterAll(async () => {
    closeClient(stats);
    closeClient(config);
    await stack.stop();
    removeDir(stack.dataDir);
  });

  it('still renders the pixel for forged, truncated and tampered tokens, records nothing, and counts each reason', async () => {
    const good = pixelPath(keyring, msg('m1')).slice(3, -4);
    const raw = Buffer.from(good, 'base64url');
    const tampered = Buffer.from(raw);
    tampered[tampered.length - 20] = tampered[tampered.length - 20]! ^ 0x40;
    const foreignKey = Buffer.from(raw);
    foreignKey[2] = 'z'.charCodeAt(0);
    const cases: Array<[string, string]> = [
      ['malformed', '/o/%%%%.gif'],
      ['malformed', `/o/${good.slice(0, 30)}.gif`],
      ['bad_seal', `/o/${good.slice(0, -6)}.gif`],
      ['bad_seal', `/o/${tampered.toString('base64url')}.gif`],
      ['unknown_key', `/o/${foreignKey.toString('base64url')}.gif`],
      ['unsupported_version', `/o/${randomBytes(60).fill(7, 0, 1).toString('base64url')}.gif`],
    ];
    for (const [, path] of cases) {
      const r = await hit(path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type']).toBe('image/gif');
      expect(r.body.length).toBe(43);
    }
    const m = await metrics();
    expect(metricValue(m, 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'malformed' })).toBe(2);
    expect(metricValue(m, 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'bad_seal' })).toBe(2);
    expect(metricValue(m, 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'unknown_key' })).toBe(1);
    expect(metricValue(m, 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'unsupported_version' })).toBe(1);
    expect(metricValue(m, 'winnow_collector_events_accepted_total')).toBe(0);
  });

  it('answers a bad link token with a plain 404 and never redirects on the query string', async () => {
    const good = clickPath(keyring, msg('m1'), 0, LinkRole.CONTENT, 'https://clinic.example/ok');
    for (const path of [`/c/${'A'.repeat(80)}?url=https://evil.example`, `${good.slice(0, -5)}?next=https://evil.example`, `${good}x`]) {
      const r = await hit(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.location).toBeUndefined();
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
    }
    const ok = await hit(`${good}?url=https://evil.example&redirect=https://evil.example`);
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toBe('https://clinic.example/ok');
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
  });

  it('records HEAD, OPTIONS and prefetch requests with their method and never counts them', async () => {
    // A campaign of its own, so events of the other tests still in flight cannot move its counters.
    const methods = 'methods';
    const before = await all(methods);
    const link = clickPath(keyring, msg('m2', methods), 0, LinkRole.CONTENT, 'https://clinic.example/x');
    expect((await hit(link, 'HEAD')).status).toBe(302);
    const options = await hit(link, 'OPTIONS', { 'user-agent': 'Microsoft Office Protocol Discovery' });
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect((await hit(link, 'GET', { ...FIREFOX, 'sec-purpose': 'prefetch' })).status).toBe(302);
    // Firefox's older prefetch header and the X-Purpose some proxies send: declared prefetches too.
    expect((await hit(link, 'GET', { ...FIREFOX, 'x-moz': 'prefetch' })).status).toBe(302);
    expect((await hit(pixelPath(keyring, msg('m2', methods)), 'GET', { ...FIREFOX, 'x-purpose': 'preview' })).status).toBe(200);
    expect((await hit(pixelPath(keyring, msg('m2', methods)), 'HEAD')).status).toBe(200);
    const timeline = await eventually(
      () => stats.getMessageTimeline({ tenant: DEMO_TENANT, message: 'm2' }),
      (t) => t.timeline!.events.length === 6,
    );
    expect(timeline.timeline!.events.map((e) => e.event!.method).sort()).toEqual(['GET', 'GET', 'GET', 'HEAD', 'HEAD', 'OPTIONS']);
    const after = await all(methods);
    expect(after.clicks).toBe(before.clicks);
    expect(after.clicks).toBe('0');
    expect(after.opens).toBe(before.opens);
  });

  it('refuses oversized URLs (414) and headers (431)', async () => {
    expect((await hit(`/o/${'A'.repeat(9000)}.gif`)).status).toBe(414);
    const big = await hit(pixelPath(keyring, msg('m3')), 'GET', { ...FIREFOX, 'x-padding': 'p'.repeat(20_000) });
    expect(big.status).toBe(431);
  });

  it('cuts slow and idle connections', async () => {
    const slow = await timeToClose(stack.collector.ports.http!, 'GET /o/abc.gif HTTP/1.1\r\nHost: demo-clinic.localhost\r\nUser-Agent: slo', 8000);
    // Timeouts of 1-2 s here (production: 10-30 s): short enough to test, long enough that the other
    // requests of this file are not cut on a loaded machine.
    expect(slow.ms).toBeLessThan(5000);
    expect(slow.reply).toMatch(/^HTTP\/1\.1 408/);
    const idle = await timeToClose(stack.collector.ports.http!, '', 8000);
    expect(idle.ms).toBeLessThan(5000);
  });

  it('answers a client that ends its side after the request, reads absolute-form targets, and refuses a second Host', async () => {
    const port = stack.collector.ports.http!;
    const campaign = 'edge-forms';
    /** Writes one raw request, optionally ending the sending side at once, and returns what came back. */
    const raw = (data: string, halfClose: boolean) =>
      new Promise<string>((resolve) => {
        let reply = '';
        const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => (halfClose ? sock.end(data) : sock.write(data)));
        sock.on('data', (d) => {
          reply += d.toString();
          if (!halfClose && reply.includes('\r\n\r\n')) sock.destroy();
        });
        sock.on('end', () => sock.destroy());
        sock.on('close', () => resolve(reply));
        sock.on('error', () => undefined);
        setTimeout(() => sock.destroy(), 4000);
      });
    const ua = `User-Agent: ${FIREFOX['user-agent']}\r\n`;
    // `printf 'GET ...' | nc -N`: the request, then the end of the client's side.
    const halfClosed = await raw(`GET ${pixelPath(keyring, msg('hc', campaign))} HTTP/1.1\r\nHost: ${DEMO_HOSTNAME}\r\n${ua}Connection: close\r\n\r\n`, true);
    expect(halfClosed).toMatch(/^HTTP\/1\.1 200 /);
    // Absolute form (RFC 9112, 3.2.2): the target's authority names the host, not the Host line.
    const absolute = await raw(`GET http://${DEMO_HOSTNAME}${clickPath(keyring, msg('abs', campaign), 0, LinkRole.CONTENT, 'https://clinic.example/a')} HTTP/1.1\r\nHost: elsewhere.example\r\n${ua}\r\n`, false);
    expect(absolute).toMatch(/^HTTP\/1\.1 302 /);
    expect(absolute).toMatch(/\r\nlocation: https:\/\/clinic\.example\/a\r\n/i);
    // Two Host lines: which one a proxy in front routed by is anyone's guess (RFC 9112, 3.2: 400).
    const twoHosts = await raw(`GET ${pixelPath(keyring, msg('two', campaign))} HTTP/1.1\r\nHost: ${DEMO_HOSTNAME}\r\nHost: links.globex.test\r\n${ua}\r\n`, false);
    expect(twoHosts).toMatch(/^HTTP\/1\.1 400 /);
    await eventually(() => all(campaign), (f) => f.opens === '1' && f.clicks === '1', 5000);
  });

  it('serves tracking domains added later without a restart, and refuses a token sealed for another tenant', async () => {
    const secret = randomBytes(32);
    await config.putTrackingDomain({ domain: { hostname: 'links.acme-health.test', tenant: 'acme-health', keys: [{ id: 'a1', secret, sealing: true }] } });
    // A second tenant misconfigured with the same key: the sealed tenant must still match the host's.
    await config.putTrackingDomain({ domain: { hostname: 'links.globex.test', tenant: 'globex', keys: [{ id: 'a1', secret, sealing: true }] } });
    const acme = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === 'links.acme-health.test')!);
    const path = pixelPath(acme, { tenant: 'acme-health', campaign: 'c', message: 'm', sentAtUnixS: String(Math.floor(Date.now() / 1000)), links: 1 });
    await eventually(() => hit(path, 'GET', FIREFOX, 'links.acme-health.test'), (r) => r.status === 200, 5000);
    expect((await hit(path, 'GET', FIREFOX, 'LINKS.ACME-HEALTH.TEST:8080')).status).toBe(200);
    // The collector's registry may have taken the first domain before the second was put: wait for
    // globex's host too (a host it does not serve is a 404; on a served one a pixel with a refused
    // token still gets its GIF).
    await eventually(() => hit(path, 'GET', FIREFOX, 'links.globex.test'), (r) => r.status === 200, 5000);
    const before = metricValue(await metrics(), 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'wrong_tenant' }) ?? 0;
    await hit(path, 'GET', FIREFOX, 'links.globex.test');
    expect(metricValue(await metrics(), 'winnow_collector_tokens_rejected_total', { route: 'pixel', reason: 'wrong_tenant' })).toBe(before + 1);
    await expect(config.putTrackingDomain({ domain: { hostname: 'links.acme-health.test', tenant: 'globex', keys: [{ id: 'g', secret: randomBytes(32), sealing: true }] } })).rejects.toMatchObject({ code: 'already_exists' });
    expect((await config.deleteTrackingDomain({ hostname: 'links.acme-health.test', tenant: 'acme-health' })).deleted).toBe(true);
    await eventually(() => hit(path, 'GET', FIREFOX, 'links.acme-health.test'), (r) => r.status === 404, 5000);
  });
});
