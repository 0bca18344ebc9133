import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { freePort } from '@winnow/testing';
import { removeDir } from '../support/stack';
import { serveProcess, stopProcess } from '../support/serve';

// The real tools users reach for: grpcurl and grpc-health-probe (Go modules; .ci/run builds both),
// against `winnow serve` processes.
const GRPCURL = process.env['GRPCURL_BIN'] ?? 'grpcurl';
const PROBE = process.env['GRPC_HEALTH_PROBE_BIN'] ?? 'grpc-health-probe';
const here = (bin: string, flag: string) => spawnSync(bin, [flag], { encoding: 'utf8' }).error === undefined;
const available = here(GRPCURL, '-version') && here(PROBE, '-version');
if (!available && process.env['CI'] !== 'true') process.stderr.write('NOTICE: grpcurl or grpc-health-probe not found; the gRPC conventions tests are skipped (.ci/run builds them)\n');

function run(bin: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((ok) => execFile(bin, args, { timeout: 20_000 }, (err, stdout, stderr) => ok({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })));
}

describe.runIf(available || process.env['CI'] === 'true')('gRPC conventions: reflection and grpc.health.v1, with grpcurl and grpc-health-probe', () => {
  const key = randomBytes(32).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'winnow-conventions-'));
  const lines: string[] = [];
  let stats: ChildProcess;
  let classifier: ChildProcess;
  let bare: ChildProcess;
  let statsAddr = '';
  let classifierAddr = '';
  let bareAddr = '';

  beforeAll(async () => {
    const [sg, sh, cg, ch, bg, bh] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
    statsAddr = `127.0.0.1:${sg}`;
    classifierAddr = `127.0.0.1:${cg}`;
    bareAddr = `127.0.0.1:${bg}`;
    stats = await serveProcess('stats', { WINNOW_SERVICE_KEY: key, WINNOW_STATS_GRPC_PORT: String(sg), WINNOW_STATS_HTTP_PORT: String(sh), WINNOW_DATA_DIR: join(dir, 'a') }, (l) => lines.push(l));
    classifier = await serveProcess('classifier', { WINNOW_SERVICE_KEY: key, WINNOW_CLASSIFIER_GRPC_PORT: String(cg), WINNOW_CLASSIFIER_HTTP_PORT: String(ch), WINNOW_STATS_ADDR: statsAddr });
    bare = await serveProcess('stats', { WINNOW_SERVICE_KEY: key, WINNOW_STATS_GRPC_PORT: String(bg), WINNOW_STATS_HTTP_PORT: String(bh), WINNOW_DATA_DIR: join(dir, 'b'), WINNOW_GRPC_REFLECTION: 'false' });
  }, 60_000);
  afterAll(async () => {
    for (const p of [classifier, stats, bare]) if (p) await stopProcess(p, 'SIGTERM');
    removeDir(dir);
  });

  it('lists and describes every service by reflection, without a key', async () => {
    const list = await run(GRPCURL, ['-plaintext', statsAddr, 'list']);
    expect(list.code, list.out).toBe(0);
    expect(list.out.split('\n').filter(Boolean).sort()).toEqual(
      ['winnow.config.v1.ConfigService', 'winnow.stats.v1.StatsService'].sort(),
    );
    const described = await run(GRPCURL, ['-plaintext', statsAddr, 'describe', 'winnow.stats.v1.GetCampaignStatsRequest']);
    expect(described.code, described.out).toBe(0);
    expect(described.out).toMatch(/string campaign = \d+;/);
    expect((await run(GRPCURL, ['-plaintext', classifierAddr, 'list'])).out).toContain('winnow.classifier.v1.ClassifierService');
  });

  it('lets grpcurl call the API with nothing but a key (the schema comes by reflection)', async () => {
    const args = ['-plaintext', '-d', JSON.stringify({ tenant: 'demo-clinic', campaign: 'none' }), statsAddr, 'winnow.stats.v1.StatsService/GetCampaignStats'];
    const ok = await run(GRPCURL, ['-H', `authorization: Bearer ${key}`, ...args]);
    expect(ok.code, ok.out).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ stats: { tenant: 'demo-clinic', campaign: 'none' } });
    const refused = await run(GRPCURL, args);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/Unauthenticated/);
  });

  it('answers grpc-health-probe SERVING for the server and each service, without a key', async () => {
    for (const [addr, service] of [[statsAddr, ''], [statsAddr, 'winnow.stats.v1.StatsService'], [statsAddr, 'winnow.config.v1.ConfigService'], [classifierAddr, 'winnow.classifier.v1.ClassifierService']] as const) {
      const r = await run(PROBE, ['-addr', addr, ...(service ? ['-service', service] : [])]);
      expect(r.code, `${addr} ${service}: ${r.out}`).toBe(0);
      expect(r.out).toMatch(/status: SERVING/);
    }
    const unknown = await run(PROBE, ['-addr', statsAddr, '-service', 'winnow.nothing.v1.Nothing']);
    expect(unknown.code).not.toBe(0);
  });

  it('writes no audit line for reflection or health, and one for an API call', () => {
    const audit = lines.filter((l) => l.includes('"audit":true'));
    expect(audit.some((l) => l.includes('StatsService.GetCampaignStats'))).toBe(true);
    expect(audit.filter((l) => /Health|Reflection/.test(l))).toEqual([]);
  });

  it('turns reflection off by configuration and keeps health', async () => {
    const list = await run(GRPCURL, ['-plaintext', bareAddr, 'list']);
    expect(list.code).not.toBe(0);
    expect(list.out).toMatch(/does not support the reflection API|Unimplemented/);
    expect((await run(PROBE, ['-addr', bareAddr])).out).toMatch(/status: SERVING/);
  });
});
