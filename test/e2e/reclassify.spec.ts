import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { afterAll, describe, expect, it } from 'vitest';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { Actor, ClassifiedEventSchema, EventFilterSchema, PolicyMode, ReclassificationState, Source, StatsService, type ClassifiedEvent } from '@winnow/proto';
import { Classifier, addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import { buildCampaigns } from '@winnow/evaluation';
import { edgeEventOf, eventually, freePort } from '@winnow/testing';
import { removeDir } from '../support/stack';
import { CLI as cli, serveProcess, stopProcess } from '../support/serve';

// Stored verdicts from an older rule set, classified again under the running one by the stats-side
// job, which is killed (SIGKILL) half-way and resumes on the next start. The counters then equal a
// fresh load of the same events under the running rules.
const KEY = 'reclassify-test-service-key-0123456789abcdef';
const run = promisify(execFile);

const serveStats = (port: number, dataDir: string) =>
  serveProcess('stats', { WINNOW_SERVICE_KEY: KEY, WINNOW_STATS_GRPC_PORT: String(port), WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DEMO_TENANT: 'false', WINNOW_EVENT_RETENTION_DAYS: '0', WINNOW_DRAIN_MS: '0', WINNOW_RECLASSIFY_PAGE: '100', WINNOW_RECLASSIFY_PAUSE_MS: '150' });
const kill = (p: ChildProcess) => stopProcess(p);

describe('new rules reach old events: reclassification, killed half-way and resumed', () => {
  const dirs: string[] = [];
  const procs: ChildProcess[] = [];
  const clients: Array<ClientOf<typeof StatsService>> = [];
  afterAll(async () => {
    clients.forEach(closeClient);
    await Promise.all(procs.map(kill));
    dirs.forEach(removeDir);
  });

  it('revises exactly the changed verdicts; the counters equal a fresh load under the running rules', async () => {
    const traces = buildCampaigns().filter((c) => c.name.startsWith('reminders-')).flatMap((c) => c.lines).map((l) => parseTraceLine(l));
    const tenant = traces[0]!.tenant;
    const campaigns = [...new Set(traces.map((t) => t.campaign))];
    const keyer = addressKeyer(KEY);
    const now = new Classifier().classify(traces).verdicts;
    // The older rule set let every click through as a person's (what issue 12 found of scanners).
    const older: ClassifiedEvent[] = traces.map((t, i) => {
      const event = edgeEventOf(t);
      const v = now[i]!.decision;
      const old = t.kind === 'click' ? { actor: Actor.HUMAN, source: Source.HUMAN } : { actor: v.actor, source: v.source };
      return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, keyer), verdict: { eventId: t.id, ...old, confidence: 0.5, reasons: ['older rules'], rulesetVersion: '2026.10.0', revision: 0 } });
    });
    const expectedChanges = older.filter((e, i) => e.verdict!.source !== now[i]!.decision.source).length;
    expect(expectedChanges).toBeGreaterThan(200);

    const start = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'winnow-reclassify-'));
      dirs.push(dir);
      const port = await freePort();
      const p = await serveStats(port, dir);
      procs.push(p);
      const c = createClient(StatsService, `127.0.0.1:${port}`, { metadata: bearer(KEY) });
      clients.push(c);
      return { dir, port, p, c };
    };
    const figures = async (c: ClientOf<typeof StatsService>) => {
      const out: unknown[] = [];
      for (const campaign of campaigns) for (const policyMode of [PolicyMode.INCLUDE_AUTOMATED, PolicyMode.EXCLUDE_AUTOMATED]) out.push((await c.getCampaignStats({ tenant, campaign, policyMode })).stats);
      return out;
    };
    const verdicts = async (c: ClientOf<typeof StatsService>) => {
      const m = new Map<string, number>();
      let pageToken = '';
      do {
        const page = await c.listEvents({ filter: create(EventFilterSchema, { tenant }), pageSize: 1000, pageToken });
        for (const e of page.events) m.set(e.event!.id, e.verdict!.source);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return m;
    };

    // The reference: the same events ingested fresh under the running rules.
    const reference = await start();
    for (let i = 0; i < older.length; i += 200) await reference.c.ingestEvents({ events: older.slice(i, i + 200) });

    // The store as the older rules left it.
    const stats = await start();
    for (let i = 0; i < older.length; i += 200) await stats.c.recordEvents({ events: older.slice(i, i + 200) });
    expect(await figures(stats.c)).not.toEqual(await figures(reference.c));

    const started = await run(process.execPath, [cli, 'reclassify', '--tenant', tenant, '--no-wait', '--stats', `127.0.0.1:${stats.port}`], { env: { ...process.env, WINNOW_SERVICE_KEY: KEY } });
    expect(started.stdout).toMatch(new RegExp(`started \\(${traces.length} events\\)`));
    const half = await eventually(async () => (await stats.c.getReclassification({ tenant })).job!, (j) => Number(j.scanned) >= traces.length * 0.3, 30_000, 10);
    await kill(stats.p);
    expect(half.state).toBe(ReclassificationState.RUNNING);
    expect(Number(half.scanned)).toBeLessThan(traces.length);

    // The next start resumes it; the command waits for it and reports what changed.
    stats.p = await serveStats(stats.port, stats.dir);
    procs.push(stats.p);
    const { stdout } = await run(process.execPath, [cli, 'reclassify', '--tenant', tenant, '--json', '--stats', `127.0.0.1:${stats.port}`], { env: { ...process.env, WINNOW_SERVICE_KEY: KEY } });
    const report = JSON.parse(stdout) as { scanned: number; changed: number; changes: Array<{ from: string; to: string; count: number }> };
    const job = (await stats.c.getReclassification({ tenant })).job!;
    expect(job).toMatchObject({ state: ReclassificationState.DONE, startedAtUnixMs: half.startedAtUnixMs });
    expect(report.scanned).toBe(traces.length);
    expect(report.changes).toEqual(expect.arrayContaining([expect.objectContaining({ from: 'human', to: 'security_scanner' })]));
    // Each event's change counted once, from its old verdict to its final one. (A page cut off between
    // its write and its checkpoint is done again and finds its events revised already; an event changed
    // before the kill and again after it is counted twice: both are few.)
    expect(report.changed).toBeLessThanOrEqual(expectedChanges * 1.02);
    expect(report.changed).toBeGreaterThan(expectedChanges * 0.9);

    expect(await verdicts(stats.c)).toEqual(await verdicts(reference.c));
    expect(await figures(stats.c)).toEqual(await figures(reference.c));
  }, 180_000);
});
