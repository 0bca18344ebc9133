import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ClassifierService, EventFilterSchema, PolicyMode, StatsService, type EdgeEvent } from '@winnow/proto';
import { parseTraceLine } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import { buildCampaigns } from '@winnow/evaluation';
import { edgeEventOf, freePort } from '@winnow/testing';
import { removeDir } from '../support/stack';
import { CLI as cli, serveProcess, stopProcess } from '../support/serve';

// One labelled trace (the three synthetic reminder campaigns of one tenant: security-gateway
// bursts, trap-link hits, fan-out across recipients, Office helpers, and later evidence revising
// earlier clicks) sent through three topologies of real service processes (`winnow serve`, as the
// image starts them). The test enters at the classifier's Ingest with the trace's recorded times and
// addresses, standing in for the collectors: like a collector, a sender keeps a batch until a
// classifier acknowledges it stored, and retries otherwise.
const KEY = 'topology-test-service-key-0123456789abcdef';
const BATCH = 40;

interface Proc {
  p: ChildProcess;
  port: number;
}

const serve = (service: 'stats' | 'classifier', env: Record<string, string>) => serveProcess(service, { WINNOW_SERVICE_KEY: KEY, WINNOW_DRAIN_MS: '0', WINNOW_LOG_LEVEL: 'warn', ...env });
const killed = (p: ChildProcess) => stopProcess(p);

class Topology {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'winnow-topology-'));
  stats!: Proc;
  classifiers: Proc[] = [];
  private clients = new Map<number, ClientOf<typeof ClassifierService>>();

  async start(classifiers: number): Promise<void> {
    this.stats = { port: await freePort(), p: undefined as never };
    await this.startStats();
    for (let i = 0; i < classifiers; i++) {
      const c = { port: await freePort(), p: undefined as never };
      this.classifiers.push(c);
      await this.startClassifier(i);
    }
  }

  async startStats(): Promise<void> {
    this.stats.p = await serve('stats', { WINNOW_STATS_GRPC_PORT: String(this.stats.port), WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: this.dataDir, WINNOW_DEMO_TENANT: 'false', WINNOW_EVENT_RETENTION_DAYS: '0' });
  }

  async startClassifier(i: number): Promise<void> {
    const c = this.classifiers[i]!;
    c.p = await serve('classifier', { WINNOW_CLASSIFIER_GRPC_PORT: String(c.port), WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: `127.0.0.1:${this.stats.port}` });
  }

  client(i: number): ClientOf<typeof ClassifierService> {
    const port = this.classifiers[i]!.port;
    let c = this.clients.get(port);
    if (!c) this.clients.set(port, (c = createClient(ClassifierService, `127.0.0.1:${port}`, { metadata: bearer(KEY) })));
    return c;
  }

  /** What a collector does with a batch: send it on an Ingest stream until it is acknowledged stored. */
  async send(events: EdgeEvent[], replica: () => number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client(replica()).ingest([{ events }], { deadlineMs: 15_000 });
        return attempt;
      } catch {
        if (attempt > 200) throw new Error('a batch was never acknowledged');
        await new Promise((ok) => setTimeout(ok, 100));
      }
    }
  }

  /** Every stored event's final actor and source, by id, and each campaign's figures both ways. */
  async results(tenant: string, campaigns: string[]): Promise<{ verdicts: Map<string, string>; stats: unknown[] }> {
    const stats = createClient(StatsService, `127.0.0.1:${this.stats.port}`, { metadata: bearer(KEY) });
    try {
      const verdicts = new Map<string, string>();
      let token = '';
      do {
        const page = await stats.listEvents({ filter: create(EventFilterSchema, { tenant }), pageSize: 1000, pageToken: token });
        for (const e of page.events) verdicts.set(e.event!.id, `${e.verdict!.actor === 1 ? 'human' : 'automated'}/${sourceName(e.verdict!.source)}`);
        token = page.nextPageToken;
      } while (token);
      const figures: unknown[] = [];
      for (const campaign of campaigns) {
        for (const policyMode of [PolicyMode.INCLUDE_AUTOMATED, PolicyMode.EXCLUDE_AUTOMATED]) {
          figures.push((await stats.getCampaignStats({ tenant, campaign, policyMode })).stats);
        }
      }
      return { verdicts, stats: figures };
    } finally {
      closeClient(stats);
    }
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) closeClient(c);
    await Promise.all([this.stats.p, ...this.classifiers.map((c) => c.p)].filter(Boolean).map(killed));
    removeDir(this.dataDir);
  }
}

const batches = (events: EdgeEvent[]) => Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) => events.slice(i * BATCH, (i + 1) * BATCH));

describe('the same verdicts on any topology: the history lives beside the store, not in a classifier', () => {
  const lines = buildCampaigns().filter((c) => c.name.startsWith('reminders-')).flatMap((c) => c.lines);
  const traces = lines.map((l) => parseTraceLine(l));
  const events = traces.map(edgeEventOf);
  const tenant = traces[0]!.tenant;
  const campaigns = [...new Set(traces.map((t) => t.campaign))];
  let offline: Map<string, string>;
  let first: Awaited<ReturnType<Topology['results']>>;

  beforeAll(async () => {
    expect(new Set(traces.map((t) => t.tenant)).size).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), 'winnow-topology-trace-'));
    const file = join(dir, 'trace.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'classify', file], { maxBuffer: 64 * 1024 ** 2 });
    offline = new Map(stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; verdict: string; source: string }).map((v) => [v.id, `${v.verdict}/${v.source}`]));
    removeDir(dir);
  }, 60_000);

  it('the trace exercises every kind of history: bursts, trap hits, fan-out and revisions', () => {
    expect(events.length).toBeGreaterThan(2500);
    expect(traces.some((t) => t.linkRole === 'honeypot')).toBe(true);
    const sources = new Set(offline.values());
    for (const s of ['automated/security_scanner', 'automated/apple_mpp', 'automated/client_helper', 'human/human']) expect(sources).toContain(s);
  });

  it('one classifier, in trace order: the offline command’s verdicts', async () => {
    const t = new Topology();
    try {
      await t.start(1);
      for (const b of batches(events)) await t.send(b, () => 0);
      first = await t.results(tenant, campaigns);
      expect(first.verdicts.size).toBe(events.length);
      const differing = [...offline].filter(([id, v]) => first.verdicts.get(id) !== v);
      expect(differing.slice(0, 5)).toEqual([]);
    } finally {
      await t.stop();
    }
  }, 120_000);

  it('two collectors and three classifier replicas, batches spread over them out of order: the same', async () => {
    const t = new Topology();
    try {
      await t.start(3);
      // Two senders, each with every other message's events, each going round the replicas.
      const messages = [...new Set(events.map((e) => e.message))];
      const half = new Set(messages.filter((_, i) => i % 2 === 0));
      const lanes = [events.filter((e) => half.has(e.message)), events.filter((e) => !half.has(e.message))];
      await Promise.all(
        lanes.map(async (lane, n) => {
          let next = n;
          for (const b of batches(lane)) await t.send(b, () => next++ % 3);
        }),
      );
      const r = await t.results(tenant, campaigns);
      expect(r.verdicts).toEqual(first.verdicts);
      expect(r.stats).toEqual(first.stats);
    } finally {
      await t.stop();
    }
  }, 120_000);

  it('the classifier and the statistics service killed (SIGKILL) and restarted twice each, mid-stream: the same', async () => {
    const t = new Topology();
    try {
      await t.start(1);
      const all = batches(events);
      const kills: Record<number, () => Promise<void>> = {
        [Math.floor(all.length * 0.2)]: async () => (await killed(t.classifiers[0]!.p), t.startClassifier(0)),
        [Math.floor(all.length * 0.4)]: async () => (await killed(t.stats.p), t.startStats()),
        [Math.floor(all.length * 0.6)]: async () => (await killed(t.classifiers[0]!.p), t.startClassifier(0)),
        [Math.floor(all.length * 0.8)]: async () => (await killed(t.stats.p), t.startStats()),
      };
      let retried = 0;
      for (let i = 0; i < all.length; i++) {
        const kill = kills[i];
        if (kill) {
          // Killed while the batch is in flight: the sender sees it fail and sends it again.
          const sending = t.send(all[i]!, () => 0);
          await kill();
          retried += await sending;
        } else await t.send(all[i]!, () => 0);
      }
      expect(retried).toBeGreaterThan(0);
      const r = await t.results(tenant, campaigns);
      expect(r.verdicts).toEqual(first.verdicts);
      expect(r.stats).toEqual(first.stats);
    } finally {
      await t.stop();
    }
  }, 180_000);
});
