import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { MongoNetworkError, MongoServerError } from 'mongodb';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiKeyScope, ClassifiedEventSchema, ConfigService, StatsService, type ClassifiedEvent } from '@winnow/proto';
import { addressKeyer, evidenceOf, parseTraceLine } from '@winnow/classification';
import type { StatsConfig } from '@winnow/config';
import { buildCampaigns } from '@winnow/evaluation';
import { bearer, closeClient, createClient } from '@winnow/grpc';
import { ClassifierService } from '@winnow/proto';
import { LmdbEventStore, type EventStore, type Revision } from '@winnow/storage';
import { Ingestor } from '@winnow/stats';
import { edgeEventOf, metricValue } from '@winnow/testing';
import { removeDir, startStack } from '../support/stack';

const KEY = 'dead-letters-address-key-0123456789abcdef';
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'dist', 'main.js');

function eventsOf(campaign: string, n: number): ClassifiedEvent[] {
  const keyer = addressKeyer(KEY);
  const traces = buildCampaigns().find((c) => c.name === campaign)!.lines.slice(0, n).map((l) => parseTraceLine(l));
  return traces.map((t) => {
    const event = edgeEventOf(t);
    return create(ClassifiedEventSchema, { event, evidence: evidenceOf(event, keyer) });
  });
}

/**
 * A real store with faults injected on writes: no real store can be made to refuse one valid event
 * for good (the ingest path turns away over-long names and odd header names before any write, which
 * are the causes the adapters have), so the refusal is the driver's own error type and code.
 */
function faulty(store: EventStore, poison: Set<string>, transient: { next: number }): EventStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'recordEvents') return Reflect.get(target, prop, receiver);
      return async (events: readonly ClassifiedEvent[], fences?: ReadonlyMap<string, number>, ...rest: [revisions?: readonly Revision[]]) => {
        if (transient.next > 0) {
          transient.next--;
          throw new MongoNetworkError('connection 3 to db:27017 closed');
        }
        const bad = events.find((e) => poison.has(e.event!.id));
        if (bad) throw new MongoServerError({ message: `invalid key in event ${bad.event!.id}`, code: 2, codeName: 'BadValue' });
        return target.recordEvents(events, fences, ...rest);
      };
    },
  });
}

describe('nothing stalls, nothing vanishes: permanent failures go to the dead letters, transient ones are retried', () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-dead-letters-'));
    dirs.push(dir);
    const store = new LmdbEventStore(dir);
    await store.init();
    return store;
  };
  afterAll(() => dirs.forEach(removeDir));

  it('keeps the refused events apart with why, stores the rest, and replays them after the fix', async () => {
    const events = eventsOf('reminders-b', 60);
    const poison = new Set([events[7]!.event!.id, events[41]!.event!.id]);
    const transient = { next: 0 };
    const real = await fresh();
    const registry = new Registry();
    const ingestor = new Ingestor(faulty(real, poison, transient), { addressKey: KEY } as StatsConfig, registry);

    // A transient failure rejects the whole batch and keeps nothing aside: the sender retries it.
    transient.next = 1;
    await expect(ingestor.ingest(events.slice(0, 30))).rejects.toBeInstanceOf(MongoNetworkError);
    expect((await real.listDeadLetters('', 100, '')).deadLetters).toEqual([]);

    const a = await ingestor.ingest(events.slice(0, 30));
    const b = await ingestor.ingest(events.slice(30));
    expect(a.stored + b.stored).toBe(58);
    expect(a.deadLettered + b.deadLettered).toBe(2);
    const { deadLetters } = await real.listDeadLetters('', 100, '');
    expect(deadLetters.map((l) => l.eventId).sort()).toEqual([...poison].sort());
    expect(deadLetters[0]).toMatchObject({ failure: 'invalid', reason: expect.stringContaining('invalid key') });
    expect(metricValue(await registry.metrics(), 'winnow_dead_letters_total', { failure: 'invalid' })).toBe(2);

    // The fix: the store takes them now. Replayed, they are stored and leave the dead letters.
    poison.clear();
    const r = await ingestor.replay(events[0]!.event!.tenant, []);
    expect(r).toMatchObject({ replayed: 2, stored: 2, deadLettered: 0 });
    expect((await real.listDeadLetters('', 100, '')).deadLetters).toEqual([]);

    // The counters equal those of the same events loaded without a fault.
    const reference = await fresh();
    await new Ingestor(reference, { addressKey: KEY } as StatsConfig, new Registry()).ingest(events);
    const campaign = events[0]!.event!.campaign;
    expect(await real.campaignCounters(events[0]!.event!.tenant, campaign)).toEqual(await reference.campaignCounters(events[0]!.event!.tenant, campaign));
    await real.close();
    await reference.close();
  });

  it('over gRPC: an event no store can key is a dead letter, the rest of its batch is stored, and the command line lists it', async () => {
    const stack = await startStack({ WINNOW_DEMO_TENANT: 'false' });
    const classifier = createClient(ClassifierService, `127.0.0.1:${stack.classifier.ports.grpc}`, { metadata: stack.auth });
    const stats = createClient(StatsService, stack.statsAddress, { metadata: stack.auth });
    try {
      const events = eventsOf('reminders-a', 6).map((e) => e.event!);
      events[2] = { ...events[2]!, message: 'm'.repeat(300) };
      // An event naming no tenant can never be stored: a dead letter under the empty tenant.
      events[5] = { ...events[5]!, tenant: '' };
      const r = await classifier.ingest([{ events }]);
      expect(Number(r.stored)).toBe(4);
      const listed = await stats.listDeadLetters({ tenant: events[0]!.tenant, pageSize: 10 });
      expect(listed.deadLetters).toHaveLength(1);
      expect(listed.deadLetters[0]).toMatchObject({ eventId: events[2]!.id, failure: 'invalid', reason: expect.stringMatching(/message is 300 characters long/) });
      // A tenant key sees its own tenant's only; listing every tenant's takes the service key.
      const anon = createClient(StatsService, stack.statsAddress, { metadata: bearer('w1nn0w_nobody') });
      await expect(anon.listDeadLetters({ tenant: '' })).rejects.toMatchObject({ code: 'unauthenticated' });
      closeClient(anon);
      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'dead-letters', 'list', '--json', '--stats', stack.statsAddress], { env: { ...process.env, WINNOW_SERVICE_KEY: stack.serviceKey } });
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; tenant: string; eventId: string; failure: string });
      expect(lines).toEqual(
        expect.arrayContaining([expect.objectContaining({ eventId: events[2]!.id, failure: 'invalid' }), expect.objectContaining({ tenant: '', eventId: events[5]!.id, failure: 'invalid' })]),
      );
      expect(lines).toHaveLength(2);
      // Nothing can replay the one with no tenant; it can be discarded (service key only, IDs named).
      const orphan = lines.find((l) => l.tenant === '')!;
      const config = createClient(ConfigService, stack.statsAddress, { metadata: stack.auth });
      const tenantKey = (await config.createApiKey({ tenant: events[0]!.tenant, scopes: [ApiKeyScope.ADMIN] })).key;
      closeClient(config);
      const admin = createClient(StatsService, stack.statsAddress, { metadata: bearer(tenantKey) });
      await expect(admin.discardDeadLetters({ tenant: '', ids: [orphan.id] })).rejects.toMatchObject({ code: 'permission_denied' });
      closeClient(admin);
      await expect(stats.discardDeadLetters({ tenant: '', ids: [] })).rejects.toMatchObject({ code: 'invalid_argument' });
      const env = { ...process.env, WINNOW_SERVICE_KEY: stack.serviceKey };
      await expect(promisify(execFile)(process.execPath, [cli, 'dead-letters', 'discard', orphan.id, '--stats', stack.statsAddress], { env })).rejects.toMatchObject({ code: 2 });
      const discarded = await promisify(execFile)(process.execPath, [cli, 'dead-letters', 'discard', '--tenant', '', orphan.id, 'no-such-id', '--stats', stack.statsAddress], { env });
      expect(discarded.stdout).toBe('discarded 1 of 2\n');
      const left = (await stats.listDeadLetters({ tenant: '', pageSize: 10 })).deadLetters;
      expect(left.map((l) => l.eventId)).toEqual([events[2]!.id]);
      const table = await promisify(execFile)(process.execPath, [cli, 'dead-letters', 'list', '--stats', stack.statsAddress], { env: { ...process.env, WINNOW_SERVICE_KEY: stack.serviceKey } });
      expect(table.stdout).toMatch(/^ID\s+TENANT\s+EVENT\s+FAILURE\s+SINCE\s+REASON/);
    } finally {
      closeClient(classifier);
      closeClient(stats);
      await stack.stop();
      removeDir(stack.dataDir);
    }
  });
});
