import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, WinnowError, bearer, checkTlsFiles, closeClient, createClient, type TlsSettings } from '@winnow/grpc';
import { ClassifierService, ConfigService, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { removeDir, startStack, type Stack } from '../support/stack';
import { runCli } from '../support/serve';

// Real TLS with real certificates: a CA and leaf certificates made by the openssl command (as a
// cert-manager Issuer would make them), real gRPC channels, the real services.

const dir = mkdtempSync(join(tmpdir(), 'winnow-tls-'));
const f = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, and a leaf it signs good for server and client use on localhost and 127.0.0.1. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}
function makeLeaf(name: string, ca: string): void {
  writeFileSync(f(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:winnow-stats\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

const settings = (mode: TlsSettings['mode'], leaf: string, ca: string, extra: Partial<TlsSettings> = {}): TlsSettings => ({
  mode,
  certFile: f(`${leaf}.crt`),
  keyFile: f(`${leaf}.key`),
  caFile: f(`${ca}.crt`),
  refreshMs: 60_000,
  ...extra,
});
const envOf = (mode: string, leaf: string, ca: string, extra: Record<string, string> = {}) => ({
  WINNOW_GRPC_TLS: mode,
  WINNOW_GRPC_TLS_CERT: f(`${leaf}.crt`),
  WINNOW_GRPC_TLS_KEY: f(`${leaf}.key`),
  WINNOW_GRPC_TLS_CA: f(`${ca}.crt`),
  ...extra,
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof WinnowError ? err.code : String(err);
  }
}

beforeAll(() => {
  makeCa('ca');
  makeLeaf('svc', 'ca');
  makeCa('rogue');
  makeLeaf('intruder', 'rogue');
});
afterAll(() => removeDir(dir));

describe('gRPC over mutual TLS', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ WINNOW_LOG_LEVEL: 'error', ...envOf('mtls', 'svc', 'ca') });
  });
  afterAll(async () => {
    await stack?.stop();
    if (stack) removeDir(stack.dataDir);
  });

  it('carries events end to end: collector, classifier and stats talk only over mTLS', async () => {
    const tls = settings('mtls', 'svc', 'ca');
    const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth, tls });
    const stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth, tls });
    try {
      const keyring = keyringOf((await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME)!);
      const path = pixelPath(keyring, { tenant: DEMO_TENANT, campaign: 'tls', message: 'm-tls', sentAtUnixS: String(Math.floor(Date.now() / 1000) - 600), links: 1 });
      const ua = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0', 'accept-language': 'en' };
      expect((await httpRequest({ port: stack.collector.ports.http!, path, host: DEMO_HOSTNAME, headers: ua })).status).toBe(200);
      const timeline = await eventually(
        async () => (await stats.getMessageTimeline({ tenant: DEMO_TENANT, message: 'm-tls' }).catch(() => undefined))?.timeline,
        (t) => (t?.events.length ?? 0) === 1,
        10_000,
      );
      expect(timeline!.events[0]!.verdict?.actor).toBeDefined();
    } finally {
      closeClient(config);
      closeClient(stats);
    }
  });

  it('refuses a client in plain text, one with no certificate, and one whose certificate another CA signed', async () => {
    const call = (tls?: TlsSettings) => {
      const c = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth, defaultDeadlineMs: 3000, ...(tls ? { tls } : {}) });
      return codeOf(c.listTrackingDomains({})).finally(() => closeClient(c));
    };
    expect(await call()).toBe(ErrorCode.Unavailable);
    expect(await call(settings('tls', 'svc', 'ca'))).toBe(ErrorCode.Unavailable); // trusts the server, shows no certificate
    expect(await call({ ...settings('mtls', 'intruder', 'rogue'), caFile: f('ca.crt') })).toBe(ErrorCode.Unavailable);
    expect(await call(settings('mtls', 'svc', 'ca'))).toBe('ok');
    // The classifier too, though the key would be right.
    const classifier = createClient(ClassifierService, `127.0.0.1:${stack.classifier.ports.grpc}`, { metadata: stack.auth, defaultDeadlineMs: 3000 });
    expect(await codeOf(classifier.classify({ events: [] }))).toBe(ErrorCode.Unavailable);
    closeClient(classifier);
  });

  it('leaves the HTTP ops endpoints plain, for the kubelet probes and Prometheus', async () => {
    for (const port of [stack.stats.ports.http!, stack.classifier.ports.http!, stack.collector.ports.ops!]) {
      expect((await httpRequest({ port, path: '/readyz' })).status).toBe(200);
    }
  });

  it('serves the command line over mTLS from the same variables, checking the server by its DNS name', async () => {
    const address = stack.statsAddress.replace('127.0.0.1', 'localhost');
    const out = await runCli(['dead-letters', 'list', '--json', '--stats', address], '', { WINNOW_SERVICE_KEY: stack.serviceKey, ...envOf('mtls', 'svc', 'ca') });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
  });
});

describe('certificate files', () => {
  it('are read again when they change: a rotated server certificate is served to new connections', async () => {
    makeCa('next');
    makeLeaf('rotated', 'next');
    copyFileSync(f('svc.crt'), f('live.crt'));
    copyFileSync(f('svc.key'), f('live.key'));
    const stack = await startStack({
      WINNOW_LOG_LEVEL: 'error',
      ...envOf('tls', 'live', 'ca', { WINNOW_GRPC_TLS_REFRESH_SECONDS: '1', WINNOW_GRPC_TLS_CA: f('ca.crt') }),
    });
    try {
      const probe = async (ca: string) => {
        const c = createClient(ConfigService, stack.statsAddress, { metadata: bearer(stack.serviceKey), defaultDeadlineMs: 2000, tls: settings('tls', 'svc', ca) });
        return codeOf(c.listTrackingDomains({})).finally(() => closeClient(c));
      };
      expect(await probe('ca')).toBe('ok');
      expect(await probe('next')).toBe(ErrorCode.Unavailable);
      // What cert-manager does: the Secret's files are replaced in place.
      copyFileSync(f('rotated.key'), f('live.key'));
      copyFileSync(f('rotated.crt'), f('live.crt'));
      expect(await eventually(() => probe('next'), (c) => c === 'ok', 10_000)).toBe('ok');
      expect(await probe('ca')).toBe(ErrorCode.Unavailable);
    } finally {
      await stack.stop();
      removeDir(stack.dataDir);
    }
  });

  it('that cannot be used stop the start with a message naming the file and the fault', () => {
    expect(() => checkTlsFiles(settings('tls', 'svc', 'ca', { certFile: f('missing.crt') }), true)).toThrow(/missing\.crt: cannot read the certificate/);
    expect(() => checkTlsFiles(settings('tls', 'svc', 'ca', { keyFile: f('intruder.key') }), true)).toThrow(/intruder\.key: does not belong to the certificate/);
    expect(() => checkTlsFiles(settings('tls', 'svc', 'ca', { certFile: f('svc.ext') }), true)).toThrow(/svc\.ext: is not a PEM certificate/);
    expect(() => checkTlsFiles(settings('mtls', 'svc', 'ca', { caFile: f('none.crt') }), true)).toThrow(/none\.crt: cannot read the CA bundle/);
    expect(checkTlsFiles(settings('mtls', 'svc', 'ca'), true)?.subject).toBe('CN=svc');
  });
});
