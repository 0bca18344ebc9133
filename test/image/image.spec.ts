import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, chownSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, createClient, bearer } from '@winnow/grpc';
import { ConfigService, StatsService } from '@winnow/proto';
import { keyringOf, pixelPath } from '@winnow/tokens';
import { eventually, httpRequest, freePort } from '@winnow/testing';
import { DEMO_HOSTNAME, DEMO_TENANT } from '@winnow/stats';
import { BUNDLE, imageAvailable, imageConfig, runImage, type ImageProcess } from '../support/image';
import { kubeAvailable, startKube, type KubeServer } from '../support/kube-apiserver';
import { SERVICE_NODE_ARGS } from '../../apps/cli/src/launcher';

const run = imageAvailable() || process.env['CI'] === 'true';
if (!run) console.warn(`skipping the image tests: no unpacked image in ${BUNDLE} (npm run image, then tools/image/unpack.sh)`);
const rootfs = join(BUNDLE, 'rootfs');


/** A host folder for a volume, owned by the image's user as a volume's fsGroup would make it. */
function volume(): string {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-volume-'));
  const { uid, gid } = imageConfig().user;
  chownSync(dir, uid, gid);
  return dir;
}

describe.runIf(run)('the image, unpacked and started as a runtime would (chroot, its user, root read-only)', () => {
  const key = randomBytes(32).toString('base64url');
  const procs: ImageProcess[] = [];
  const dirs: string[] = [];
  let kube: KubeServer | undefined;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    expect(imageAvailable(), `no unpacked image in ${BUNDLE}`).toBe(true);
    for (const p of ['statsGrpc', 'statsHttp', 'classifierGrpc', 'classifierHttp', 'collectorHttp', 'collectorOps', 'operatorHttp']) ports[p] = await freePort();
  });

  afterAll(async () => {
    for (const p of procs) {
      p.proc.kill('SIGTERM');
      await Promise.race([p.exited, new Promise((ok) => setTimeout(ok, 5000))]);
      p.proc.kill('SIGKILL');
    }
    await kube?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs as user 10001, starts `winnow serve`, holds production dependencies only and no shell', () => {
    const cfg = imageConfig();
    expect(cfg.user).toEqual({ uid: 10001, gid: 10001 });
    // The services' node flags, the same as `npm start` gives them (docs/architecture.md, "Session 20").
    expect(cfg.args).toEqual(['/nodejs/bin/node', ...SERVICE_NODE_ARGS, '/app/apps/cli/dist/main.js', 'serve', 'collector']);
    expect(cfg.env['NODE_OPTIONS']).toBeUndefined();
    for (const sh of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'bin/busybox']) expect(existsSync(join(rootfs, sh)), sh).toBe(false);
    const modules = readdirSync(join(rootfs, 'app', 'node_modules'));
    for (const dev of ['vitest', 'typescript', 'eslint', 'nx', 'autocannon', '@bufbuild/buf']) expect(modules, dev).not.toContain(dev.split('/')[0] === '@bufbuild' ? 'not-checked' : dev);
    expect(existsSync(join(rootfs, 'app', 'node_modules', '@bufbuild', 'buf'))).toBe(false);
    expect(existsSync(join(rootfs, 'app', 'libs', 'evaluation', 'dist'))).toBe(false);
    expect(statSync(join(rootfs, 'app', 'apps', 'collector', 'dist', 'main.js')).isFile()).toBe(true);
  });

  it('has a CycloneDX SBOM beside it', () => {
    const sbom = JSON.parse(readFileSync(join(BUNDLE, '..', 'winnow.cdx.json'), 'utf8')) as { bomFormat: string; components: Array<{ name: string; version: string }> };
    expect(sbom.bomFormat).toBe('CycloneDX');
    const names = sbom.components.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['@grpc/grpc-js', 'mongodb', 'prom-client', 'lmdb']));
    expect(names).not.toContain('vitest');
  });

  it('cannot write outside its declared volumes', async () => {
    const spool = volume();
    dirs.push(spool);
    const p = runImage({
      command: ['/nodejs/bin/node', '-e', "const fs=require('fs');for(const f of ['/app/x','/etc/x','/var/spool/winnow/x','/tmp/x']){try{fs.writeFileSync(f,'y');console.log(f+' written')}catch(e){console.log(f+' '+e.code)}}"],
      volumes: { '/var/spool/winnow': spool },
    });
    expect(await p.exited).toBe(0);
    expect(p.output).toEqual(['/app/x EROFS', '/etc/x EROFS', '/var/spool/winnow/x written', '/tmp/x written']);
  });

  it('starts every service; each answers /readyz; a pixel through the collector is stored', async () => {
    const common = { WINNOW_SERVICE_KEY: key, WINNOW_BIND_HOST: '127.0.0.1', WINNOW_LOG_LEVEL: 'warn' };
    const statsAddr = `127.0.0.1:${ports['statsGrpc']}`;
    const data = volume();
    const spool = volume();
    dirs.push(data, spool);
    const stats = runImage({ args: ['serve', 'stats'], env: { ...common, WINNOW_STATS_GRPC_PORT: String(ports['statsGrpc']), WINNOW_STATS_HTTP_PORT: String(ports['statsHttp']) }, volumes: { '/var/lib/winnow': data } });
    procs.push(stats);
    await stats.waitFor(/"listening"/);
    const classifier = runImage({ args: ['serve', 'classifier'], env: { ...common, WINNOW_CLASSIFIER_GRPC_PORT: String(ports['classifierGrpc']), WINNOW_CLASSIFIER_HTTP_PORT: String(ports['classifierHttp']), WINNOW_STATS_ADDR: statsAddr } });
    procs.push(classifier);
    await classifier.waitFor(/"listening"/);
    const collector = runImage({
      args: ['serve', 'collector'],
      env: { ...common, WINNOW_COLLECTOR_PORT: String(ports['collectorHttp']), WINNOW_COLLECTOR_OPS_PORT: String(ports['collectorOps']), WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${ports['classifierGrpc']}`, WINNOW_STATS_ADDR: statsAddr, WINNOW_DOMAIN_REFRESH_MS: '200' },
      volumes: { '/var/spool/winnow': spool },
    });
    procs.push(collector);
    await collector.waitFor(/"listening"/);
    const ready = [ports['statsHttp'], ports['classifierHttp'], ports['collectorOps']];
    if (kubeAvailable()) {
      // The operator needs a Kubernetes API: the real one, with the CRDs.
      kube = await startKube();
      await kube.kubectl(['apply', '-f', join(__dirname, '..', '..', 'deploy', 'crds')]);
      await kube.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/trackingdomains.winnow.dev', 'crd/suppressionsettings.winnow.dev']);
      await kube.kubectl(['create', 'namespace', 'winnow']);
      const kubeconfig = mkdtempSync(join(tmpdir(), 'winnow-kubeconfig-'));
      dirs.push(kubeconfig);
      const { copyFileSync, chmodSync } = await import('node:fs');
      copyFileSync(kube.kubeconfigFile(), join(kubeconfig, 'config'));
      chmodSync(kubeconfig, 0o755);
      chmodSync(join(kubeconfig, 'config'), 0o644);
      const operator = runImage({
        args: ['serve', 'operator'],
        env: { ...common, WINNOW_NAMESPACE: 'winnow', WINNOW_STATS_ADDR: statsAddr, WINNOW_OPERATOR_HTTP_PORT: String(ports['operatorHttp']), POD_NAME: 'image-op', KUBECONFIG: '/var/lib/winnow/config' },
        volumes: { '/var/lib/winnow': kubeconfig },
      });
      procs.push(operator);
      await operator.waitFor(/"listening"/);
      ready.push(ports['operatorHttp']);
    } else if (process.env['CI'] === 'true') {
      throw new Error('CI has no Kubernetes API server for the operator in the image');
    }
    for (const port of ready) {
      await eventually(() => httpRequest({ port: port!, path: '/readyz' }), (r) => r.status === 200, 15_000);
    }
    // A pixel for the demo tenant, through the collector in the image, lands in the store in the image.
    const auth = { metadata: bearer(key) };
    const config = createClient(ConfigService, statsAddr, auth);
    const statsApi = createClient(StatsService, statsAddr, auth);
    try {
      const domain = await eventually(async () => (await config.listTrackingDomains({})).domains.find((d) => d.hostname === DEMO_HOSTNAME), (d) => d !== undefined, 10_000);
      const path = pixelPath(keyringOf(domain!), { tenant: DEMO_TENANT, campaign: 'image', message: 'm1', sentAtUnixS: String(Math.floor(Date.now() / 1000)), links: 1 });
      const res = await httpRequest({ port: ports['collectorHttp']!, path, host: DEMO_HOSTNAME, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0' } });
      expect(res.status).toBe(200);
      const stored = await eventually(() => statsApi.listEvents({ filter: { tenant: DEMO_TENANT, campaign: 'image' }, pageSize: 10 }), (r) => r.events.length === 1, 15_000);
      expect(stored.events[0]!.event!.message).toBe('m1');
      // A mail prepared by the image's stats, on its worker thread (loaded from the production tree).
      const prepared = await config.prepareEmail({ tenant: DEMO_TENANT, hostname: DEMO_HOSTNAME, campaign: 'image', message: 'm2', html: '<html><body><a href="https://clinic.example/a">a</a></body></html>', skipDelivery: true });
      expect(prepared.trackedLinks).toBe(1);
      expect(prepared.html).toContain(`${DEMO_HOSTNAME}/c/`);
    } finally {
      closeClient(config);
      closeClient(statsApi);
    }
    // The embedded store wrote to its volume, the collector's spool to its own.
    expect(readdirSync(data).length).toBeGreaterThan(0);
    expect(readdirSync(spool).length).toBeGreaterThan(0);
    // One log format for every service: each line JSON with level, time, service and message.
    const services = new Set<string>();
    for (const p of procs) {
      expect(p.output.length).toBeGreaterThan(0);
      for (const line of p.output) {
        const o = JSON.parse(line) as Record<string, unknown>;
        expect(Object.keys(o).slice(0, 3), line).toEqual(['level', 'time', 'service']);
        expect(typeof o['message'], line).toBe('string');
        services.add(o['service'] as string);
      }
    }
    expect([...services].sort()).toEqual(kube ? ['classifier', 'collector', 'operator', 'stats'] : ['classifier', 'collector', 'stats']);
  }, 120_000);
});
