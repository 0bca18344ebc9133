import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ClassifiedEventSchema, DeadLetterSchema, DeliverySchema, EventKind, Source, type ClassifiedEvent } from '@winnow/proto';
import { classified, eventStoreConformance } from '../conformance.suite';
import { describe, expect, it } from 'vitest';
import { ABORT, open } from 'lmdb';
import { LmdbEventStore } from './lmdb-event-store';

eventStoreConformance('embedded (LMDB)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-'));
  let store = new LmdbEventStore(dir);
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new LmdbEventStore(dir);
      return store;
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded (LMDB) store: retention', () => {
  it('sweeps raw events and dead letters past retention, and the records of messages left empty; counters stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-retention-'));
    const store = new LmdbEventStore(dir, { retentionDays: 30 });
    try {
      await store.init();
      const now = Date.now();
      const day = 86_400_000;
      await store.recordEvents([classified('old1', { message: 'gone', at: now - 40 * day }), classified('old2', { message: 'kept', at: now - 40 * day }), classified('new', { message: 'kept', at: now - day })]);
      await store.putDeadLetters([create(DeadLetterSchema, { id: 'a', tenant: 'acme', eventId: 'd', failure: 'invalid', reason: 'r', deadAtUnixMs: String(now - 31 * day) }), create(DeadLetterSchema, { id: 'b', tenant: 'acme', eventId: 'e', failure: 'invalid', reason: 'r', deadAtUnixMs: String(now) })]);
      expect(await store.sweepExpired(now)).toBe(2);
      expect(await store.messageEvents('acme', 'gone')).toEqual([]);
      expect(await store.message('acme', 'gone')).toBeUndefined();
      expect((await store.messageEvents('acme', 'kept')).map((e) => e.event!.id)).toEqual(['new']);
      expect(await store.message('acme', 'kept')).toBeDefined();
      expect((await store.listDeadLetters('acme', 10, '')).deadLetters.map((l) => l.id)).toEqual(['b']);
      expect((await store.campaignCounters('acme', 'spring')).opens.reduce((a, b) => a + b, 0)).toBe(3);
      expect(await store.sweepExpired(now)).toBe(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: retention past one sweep round', () => {
  it('sweeps more than one round of 10,000 events, keeping the newer ones between them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-retention-big-'));
    const store = new LmdbEventStore(dir, { retentionDays: 30 });
    try {
      await store.init();
      const now = Date.now();
      const day = 86_400_000;
      // Old and new events interleaved in the message index (messages m0..m99), more old ones than a round.
      for (let b = 0; b < 11; b++) {
        await store.recordEvents(Array.from({ length: 1_000 }, (_, i) => classified(`o${b}-${i}`, { message: `m${i % 100}`, at: now - 40 * day + b * 1000 + i })));
      }
      await store.recordEvents(Array.from({ length: 100 }, (_, i) => classified(`n${i}`, { message: `m${i}`, at: now - day })));
      expect(await store.sweepExpired(now)).toBe(11_000);
      expect(await store.messageEvents('acme', 'm7')).toHaveLength(1);
      expect(await store.sweepExpired(now)).toBe(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('embedded (LMDB) store: one writing process', () => {
  // Another process opens the same folder, through the built library (as a second stats would).
  const openElsewhere = (dir: string) =>
    spawnSync(process.execPath, ['-e', `const { LmdbEventStore } = require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'index.js'))}); new LmdbEventStore(${JSON.stringify(dir)}); console.log('opened')`], { encoding: 'utf8' });

  it('refuses a second process while one writes, and lets the next one in after it closed or died', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-writer-'));
    try {
      const store = new LmdbEventStore(dir);
      const refused = openElsewhere(dir);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/SecondWriterError: another process \(pid \d+\) writes to the embedded store/);
      await store.close();
      expect(openElsewhere(dir).stdout).toContain('opened');
      // A lock left by a process that is gone (a crash) is taken over.
      writeFileSync(join(dir, 'writer.lock'), '999999999');
      expect(openElsewhere(dir).stdout).toContain('opened');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: a batch that fails half-way', () => {
  it('leaves nothing of it behind: no events, no counters, no moved history sequence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-rollback-'));
    const store = new LmdbEventStore(dir);
    try {
      await store.init();
      await store.recordEvents([classified('ok1', {})], new Map([['acme', 0]]));
      const counters = await store.campaignCounters('acme', 'spring');
      // The second event's message name is past LMDB's key size: the write fails after the first
      // event of the batch was written into the transaction.
      const bad = classified('bad', { message: 'm'.repeat(3000) });
      await expect(store.recordEvents([classified('ok2', {}), bad], new Map([['acme', 1]]))).rejects.toThrow();
      expect(await store.historySequence('acme')).toBe(1);
      expect((await store.messageEvents('acme', 'm1')).map((e) => e.event!.id)).toEqual(['ok1']);
      expect(await store.campaignCounters('acme', 'spring')).toEqual(counters);
      // And the store goes on.
      await store.recordEvents([classified('ok2', {})], new Map([['acme', 1]]));
      expect((await store.messageEvents('acme', 'm1')).map((e) => e.event!.id).sort()).toEqual(['ok1', 'ok2']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: timelines kept by the layout before 2026-12', () => {
  /** Moves every timeline entry of a closed store back into a database of its own, as stores made before kept them. */
  async function toOldLayout(dir: string, extra = 0): Promise<number> {
    const root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
    const messages = root.openDB<unknown, (string | number)[]>({ name: 'messages' });
    const byMessage = root.openDB<null, (string | number)[]>({ name: 'byMessage' });
    const keys = [...messages.getKeys()].filter((k) => k.length === 4);
    root.transactionSync(() => {
      for (const k of keys) {
        byMessage.putSync(k, null);
        messages.removeSync(k);
      }
      // Entries whose events are not there (a timeline larger than one move of 10,000).
      for (let i = 0; i < extra; i++) byMessage.putSync(['acme', 'big', i, `x${i}`], null);
    });
    await root.close();
    return keys.length;
  }

  it('moves them beside the message states on opening, over several moves, and drops the old database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-layout-'));
    let store = new LmdbEventStore(dir);
    try {
      const t = Date.UTC(2026, 11, 1);
      await store.recordEvents([classified('a1', { message: 'm1', at: t }), classified('a2', { message: 'm1', at: t + 1_000 }), classified('b1', { message: 'm2', at: t + 2_000 })]);
      await store.close();
      expect(await toOldLayout(dir, 10_050)).toBe(3);

      store = new LmdbEventStore(dir);
      expect((await store.messageEvents('acme', 'm1')).map((e) => e.event!.id)).toEqual(['a1', 'a2']);
      expect((await store.messageEvents('acme', 'm2')).map((e) => e.event!.id)).toEqual(['b1']);
      expect(await store.message('acme', 'm1')).toBeDefined();
      expect(await store.erase({ tenant: 'acme', message: 'm2' })).toEqual({ events: 1, messages: 1, deadLetters: 0 });
      expect(await store.messageEvents('acme', 'm2')).toEqual([]);
      await store.close();

      const root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
      expect(root.openDB({ name: 'byMessage', create: false } as never)).toBeUndefined();
      const timelines = [...root.openDB<unknown, (string | number)[]>({ name: 'messages' }).getKeys()].filter((k) => k.length === 4);
      expect(timelines).toHaveLength(2 + 10_050);
      await root.close();
      store = new LmdbEventStore(dir);
      expect((await store.messageEvents('acme', 'm1')).map((e) => e.event!.id)).toEqual(['a1', 'a2']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: the journal of derived records', () => {
  const HOUR = 3_600_000;
  const T = Date.UTC(2026, 2, 2, 10, 0, 0);
  // Three batches over five messages and three hours; the third revises verdicts of the first.
  const batches = (): ClassifiedEvent[][] => {
    const first = Array.from({ length: 20 }, (_, i) => classified(`a${i}`, { message: `m${i % 5}`, kind: i % 3 === 0 ? EventKind.CLICK : EventKind.OPEN, at: T + (i % 3) * HOUR + i }));
    const second = Array.from({ length: 15 }, (_, i) => classified(`b${i}`, { message: `m${(i + 2) % 5}`, kind: i % 2 === 0 ? EventKind.CLICK : EventKind.OPEN, source: i % 4 === 0 ? Source.SECURITY_SCANNER : Source.HUMAN, at: T + HOUR + i }));
    const revisions = [0, 3, 6, 9].map((i) => classified(`a${i}`, { message: `m${i % 5}`, kind: i % 3 === 0 ? EventKind.CLICK : EventKind.OPEN, at: T + (i % 3) * HOUR + i, source: Source.SECURITY_SCANNER, revision: 1 }));
    return [first, second, [...revisions, classified('c0', { message: 'm4', at: T + 2 * HOUR })]];
  };
  const repo = join(__dirname, '..', '..', '..', '..');
  const dist = join(__dirname, '..', '..', 'dist', 'index.js');

  /** Feeds the batches to a store in another process, which then dies (SIGKILL) without closing it. */
  function crashAfter(dir: string, opts: { checkpointAfterFirst: boolean; erase?: string }): void {
    const input = join(dir, '..', `${Date.now()}-batches.json`);
    writeFileSync(input, JSON.stringify(batches().map((b) => b.map((e) => Buffer.from(toBinary(ClassifiedEventSchema, e)).toString('base64')))));
    const script = `
      const { LmdbEventStore } = require(${JSON.stringify(dist)});
      const { fromBinary } = require('@bufbuild/protobuf');
      const { ClassifiedEventSchema } = require('@winnow/proto');
      const batches = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(input)}, 'utf8'));
      (async () => {
        const store = new LmdbEventStore(${JSON.stringify(dir)});
        for (const [i, b] of batches.entries()) {
          await store.recordEvents(b.map((x) => fromBinary(ClassifiedEventSchema, Buffer.from(x, 'base64'))));
          if (i === 0 && ${opts.checkpointAfterFirst}) await store.checkpoint();
        }
        ${opts.erase ? `await store.erase({ tenant: 'acme', message: ${JSON.stringify(opts.erase)} });` : ''}
        process.stdout.write('stored\\n');
        process.kill(process.pid, 'SIGKILL');
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { cwd: repo, encoding: 'utf8' });
    rmSync(input, { force: true });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('stored\n');
    expect(child.signal).toBe('SIGKILL');
  }

  async function figures(store: LmdbEventStore) {
    const messages = [];
    for (let i = 0; i < 5; i++) {
      messages.push({ record: await store.message('acme', `m${i}`), events: (await store.messageEvents('acme', `m${i}`)).map((e) => [e.event!.id, e.verdict!.source, e.verdict!.revision]) });
    }
    return { counters: await store.campaignCounters('acme', 'spring'), hours: await store.hourBuckets('acme', 'spring', 0, 0), messages, count: await store.countEvents('acme') };
  }

  /** The same batches through a store that is closed cleanly. */
  async function reference(erase?: string) {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-journal-ref-'));
    const store = new LmdbEventStore(dir);
    try {
      for (const b of batches()) await store.recordEvents(b);
      if (erase) await store.erase({ tenant: 'acme', message: erase });
      return await figures(store);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const journalEntries = (dir: string): unknown[] => {
    const root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
    try {
      return [...root.openDB({ name: 'journal' }).getRange({ start: 0, end: Number.MAX_SAFE_INTEGER })].map((e) => e.value);
    } finally {
      void root.close();
    }
  };

  it.each([false, true])('a process killed before a checkpoint leaves nothing lost: opening reads the journal back (checkpoint after the first batch: %s)', async (checkpointAfterFirst) => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-journal-'));
    try {
      crashAfter(dir, { checkpointAfterFirst });
      // What the dead process left unapplied is in the journal.
      expect(journalEntries(dir).length).toBe(checkpointAfterFirst ? 2 : 3);
      const store = new LmdbEventStore(dir);
      const expected = await reference();
      expect(expected.counters.opens.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(await figures(store)).toEqual(expected);
      // Applied once more at a checkpoint, the entries change nothing, and leave the journal.
      await store.checkpoint();
      expect(await figures(store)).toEqual(expected);
      await store.close();
      expect(journalEntries(dir)).toEqual([]);
      const again = new LmdbEventStore(dir);
      expect(await figures(again)).toEqual(expected);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a checkpoint whose transaction never settles as failed after its timeout, and goes on: later batches and checkpoints count exactly', async () => {
    // lmdb-js was seen to leave a failed commit's promise unsettled once (docs/architecture.md,
    // "Session 15"); no sequence reproduces it on demand, so this stands in for it: the checkpoint's
    // transaction runs and commits for real, but its promise is replaced by one that never settles.
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-hung-'));
    const store = new LmdbEventStore(dir, { checkpointEveryMs: 3_600_000, checkpointTimeoutMs: 300 });
    const root = (store as unknown as { root: { transaction: (cb: () => unknown) => Promise<unknown> } }).root;
    const real = root.transaction.bind(root);
    try {
      const [first, second, third] = batches();
      await store.recordEvents(first!);
      let hung = 0;
      root.transaction = (cb) => {
        root.transaction = real;
        hung++;
        void real(cb).catch(() => undefined);
        return new Promise(() => undefined);
      };
      const started = Date.now();
      await expect(store.checkpoint()).rejects.toThrow(/did not complete within 0.3 s/);
      expect(hung).toBe(1);
      expect(Date.now() - started).toBeLessThan(5_000);
      await store.recordEvents(second!);
      await store.recordEvents(third!);
      // The guard let go of the hung one: a checkpoint runs again, and the journal empties.
      await store.checkpoint();
      expect(journalEntries(dir)).toEqual([]);
      expect(await figures(store)).toEqual(await reference());
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses with its batch a derived key the databases could not hold (a delivery naming a campaign too long), and checkpoints go on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-journal-key-'));
    const store = new LmdbEventStore(dir);
    try {
      const long = create(DeliverySchema, { tenant: 'acme', campaign: 'c'.repeat(2000), message: 'm1', deliveredAtUnixMs: String(T), links: 1 });
      await expect(store.recordDeliveries([long])).rejects.toThrow(/Key size is larger than the maximum key size/);
      await store.recordEvents(batches()[0]!);
      await store.checkpoint();
      await store.erase({ tenant: 'acme', message: 'm1' });
      await store.close();
      expect(journalEntries(dir)).toEqual([]);
    } finally {
      await store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('erasure takes the erased records out of the journal too, in its own transaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-journal-erase-'));
    try {
      crashAfter(dir, { checkpointAfterFirst: false, erase: 'm2' });
      expect(journalEntries(dir)).toEqual([]);
      const root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
      const left = [...root.openDB({ name: 'messages' }).getKeys()].filter((k) => (k as unknown[])[1] === 'm2');
      await root.close();
      expect(left).toEqual([]);
      const store = new LmdbEventStore(dir);
      const expected = await reference('m2');
      expect(expected.messages[2]).toEqual({ record: undefined, events: [] });
      expect(await figures(store)).toEqual(expected);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A real full disk: a tmpfs of 6 MiB (mounting needs root; CI runs as root, elsewhere this is
// reported as skipped). The store runs in a process of its own, without a test runner's handlers, as
// the statistics service does.
describe.skipIf(process.getuid?.() !== 0)('embedded (LMDB) store: a full disk under batches and checkpoints', () => {
  const repo = join(__dirname, '..', '..', '..', '..');
  const dist = join(__dirname, '..', '..', 'dist', 'index.js');
  const T = Date.UTC(2026, 2, 2);
  const spec = (n: number, i: number) => ({ id: `e${n}-${i}`, message: `m${n % 7}-${i}`, click: i % 2 === 1, human: i % 5 !== 0, at: T + n * 60_000 + i });
  const batch = (n: number) =>
    Array.from({ length: 200 }, (_, i) => spec(n, i)).map((e) => classified(e.id, { message: e.message, kind: e.click ? EventKind.CLICK : EventKind.OPEN, source: e.human ? Source.HUMAN : Source.BOT, at: e.at }));
  const figures = async (s: LmdbEventStore) => ({
    counters: await s.campaignCounters('acme', 'spring'),
    hours: await s.hourBuckets('acme', 'spring', 0, 0),
    events: await s.countEvents('acme'),
    m0: (await s.messageEvents('acme', 'm0-0')).map((e) => e.event!.id),
    m3: (await s.message('acme', 'm3-1')) ?? null,
  });

  it('counts exactly the batches whose commit succeeded, through failed commits of batches and of checkpoints, and the process lives on', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'winnow-lmdb-full-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]).status).toBe(0);
    const refDir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-full-ref-'));
    try {
      // Room to give back once the disk is full.
      writeFileSync(join(mnt, 'ballast'), Buffer.alloc(3 * 1024 * 1024, 1));
      const script = `
        const { LmdbEventStore } = require(${JSON.stringify(dist)});
        const { create } = require('@bufbuild/protobuf');
        const { ClassifiedEventSchema, EventKind, LinkRole, Source, Actor } = require('@winnow/proto');
        const spec = ${spec.toString()};
        const T = ${T};
        const batch = (n) => Array.from({ length: 200 }, (_, i) => spec(n, i)).map((e) => create(ClassifiedEventSchema, {
          event: { id: e.id, tenant: 'acme', campaign: 'spring', message: e.message, kind: e.click ? EventKind.CLICK : EventKind.OPEN, linkRole: LinkRole.CONTENT, method: 'GET', ip: '192.0.2.1', atUnixMs: String(e.at), headers: { 'user-agent': 'test' } },
          verdict: { eventId: e.id, actor: e.human ? Actor.HUMAN : Actor.AUTOMATED, source: e.human ? Source.HUMAN : Source.BOT, confidence: 0.9, reasons: ['test'], rulesetVersion: 'test', revision: 0 },
        }));
        (async () => {
          const store = new LmdbEventStore(${JSON.stringify(join(mnt, 'store'))});
          const stored = [];
          let batchFailures = 0, checkpointFailures = 0, n = 0;
          for (; n < 400 && batchFailures + checkpointFailures < 4; n++) {
            try { await store.recordEvents(batch(n)); stored.push(n); } catch { batchFailures++; }
            await store.checkpoint().catch(() => checkpointFailures++);
          }
          // An erasure on the full disk fails; until anything else is written, reads still show what it would have erased.
          const before = JSON.stringify(await store.campaignCounters('acme', 'spring')) + JSON.stringify(await store.messageEvents('acme', 'm0-0'));
          let eraseFailed = false;
          await store.erase({ tenant: 'acme', message: 'm0-0' }).catch(() => { eraseFailed = true; });
          await new Promise((r) => setTimeout(r, 200));
          const after = JSON.stringify(await store.campaignCounters('acme', 'spring')) + JSON.stringify(await store.messageEvents('acme', 'm0-0'));
          require('node:fs').rmSync(${JSON.stringify(join(mnt, 'ballast'))});
          for (let k = 0; k < 3; k++, n++) { await store.recordEvents(batch(n)); stored.push(n); }
          await store.checkpoint();
          await store.close();
          process.stdout.write(JSON.stringify({ stored, batchFailures, checkpointFailures, eraseFailed, unchanged: before === after }));
        })();`;
      const child = spawnSync(process.execPath, ['-e', script], { cwd: repo, encoding: 'utf8' });
      expect(child.status).toBe(0);
      const out = JSON.parse(child.stdout) as { stored: number[]; batchFailures: number; checkpointFailures: number; eraseFailed: boolean; unchanged: boolean };
      expect(out.batchFailures + out.checkpointFailures).toBeGreaterThanOrEqual(4);
      expect(out.eraseFailed).toBe(true);
      expect(out.unchanged).toBe(true);
      expect(out.stored.length).toBeGreaterThan(20);
      const ref = new LmdbEventStore(refDir);
      for (const k of out.stored) await ref.recordEvents(batch(k));
      const expected = await figures(ref);
      await ref.close();
      const store = new LmdbEventStore(join(mnt, 'store'));
      try {
        expect(await figures(store)).toEqual(expected);
      } finally {
        await store.close();
      }
    } finally {
      spawnSync('umount', ['-l', mnt]);
      rmSync(mnt, { recursive: true, force: true });
      rmSync(refDir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: reads outside a write', () => {
  // The raw event databases are LMDB's own: lmdb-js shows a transaction to reads once LMDB has
  // committed it, a few milliseconds before the write's promise (which waits for the flush to disk).
  it("never see a batch's counters, hour buckets, message record or timeline before its write is durable (a commit can still fail), and see them once it is", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-committed-'));
    const store = new LmdbEventStore(dir, { checkpointEveryMs: 3_600_000 });
    try {
      const T = Date.UTC(2026, 2, 2, 10);
      const size = 300;
      const batch = (b: number) => Array.from({ length: size }, (_, i) => classified(`r${b}-${i}`, { message: `m${b}-${i % 50}`, at: T + b * 1000 + i }));
      const opens = async () => (await store.campaignCounters('acme', 'spring')).opens.reduce((a, v) => a + v, 0);
      const hourly = async () => (await store.hourBuckets('acme', 'spring', 0, 0)).reduce((a, h) => a + h.opens.reduce((x, v) => x + v, 0), 0);
      let resolved = 0;
      let polls = 0;
      const seen: string[] = [];
      // Reads run between every two turns of the event loop while the batches' transactions are open.
      let polling = true;
      const poll = async () => {
        while (polling) {
          const committedNow = resolved;
          const [o, h, state, events] = await Promise.all([opens(), hourly(), store.message('acme', `m${committedNow}-0`), store.messageEvents('acme', `m${committedNow}-0`)]);
          const most = committedNow * size;
          if (o > most || h > most || state !== undefined || events.length > 0) seen.push(`${committedNow} committed: opens ${o}, hourly ${h}, next batch's message ${state ? 'seen' : 'not seen'}, its events ${events.length}`);
          polls++;
          await new Promise((r) => setImmediate(r));
        }
      };
      const polled = poll();
      for (let b = 0; b < 8; b++) {
        // One batch at a time: between its transaction's callback and its commit, the reads meet it staged and not committed.
        await store.recordEvents(batch(b));
        resolved++;
      }
      polling = false;
      await polled;
      expect(seen).toEqual([]);
      expect(polls).toBeGreaterThan(8);
      expect(await opens()).toBe(8 * size);
      expect(await hourly()).toBe(8 * size);
      expect((await store.messageEvents('acme', 'm7-0')).length).toBe(size / 50);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: reads after a batch whose commit failed', () => {
  it('never see it, whatever commits next (a write with no journal entry included), and the next batch only once its write resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-failed-'));
    const store = new LmdbEventStore(dir, { checkpointEveryMs: 3_600_000 });
    const root = (store as unknown as { root: { childTransaction: (cb: () => unknown) => Promise<unknown> } }).root;
    const real = root.childTransaction.bind(root);
    const T = Date.UTC(2026, 2, 2, 10);
    const batch = (b: number, n = 10) => Array.from({ length: n }, (_, i) => classified(`f${b}-${i}`, { message: `m${b}`, at: T + b * 1000 + i }));
    const opens = async () => (await store.campaignCounters('acme', 'spring')).opens.reduce((a, v) => a + v, 0);
    try {
      await store.recordEvents(batch(0));
      // A commit that fails (a full disk does this; the tmpfs test above needs root): the batch's
      // callback runs and stages it, nothing of it reaches LMDB, and its write rejects.
      root.childTransaction = (cb) => {
        root.childTransaction = real;
        return real(() => {
          cb();
          return ABORT;
        }).then(() => {
          throw new Error('Commit failed (see commitError for details)');
        });
      };
      await expect(store.recordEvents(batch(1))).rejects.toThrow(/Commit failed/);
      expect(await opens()).toBe(10);
      // Transactions that write no journal entry, one of them changing nothing at all.
      expect(await store.deleteApiKey('no-such-key')).toBe(false);
      await store.putDeadLetters([create(DeadLetterSchema, { id: 'd1', tenant: 'acme', eventId: 'x', failure: 'invalid', reason: 'test', deadAtUnixMs: String(T) })]);
      expect(await opens()).toBe(10);
      expect(await store.message('acme', 'm1')).toBeUndefined();
      expect(await store.messageEvents('acme', 'm1')).toEqual([]);
      // The next batch takes the failed one's journal number: it is not shown before its write resolves.
      let resolved = false;
      const early: number[] = [];
      const written = store.recordEvents(batch(2, 5)).then(() => {
        resolved = true;
      });
      while (!resolved) {
        const o = await opens();
        if (!resolved && (o !== 10 || (await store.message('acme', 'm2')) !== undefined)) early.push(o);
        await new Promise((r) => setImmediate(r));
      }
      await written;
      expect(early).toEqual([]);
      expect(await opens()).toBe(15);
      await store.close();
      const again = new LmdbEventStore(dir);
      try {
        expect((await again.campaignCounters('acme', 'spring')).opens.reduce((a, v) => a + v, 0)).toBe(15);
        expect(await again.message('acme', 'm1')).toBeUndefined();
      } finally {
        await again.close();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded (LMDB) store: a checkpoint started by the amount staged', () => {
  it('starts one outside the batch that reached the threshold, with no timer, and loses nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winnow-lmdb-threshold-'));
    // The timer far away: only the amount staged starts a checkpoint here.
    const store = new LmdbEventStore(dir, { checkpointEveryMs: 3_600_000 });
    try {
      const T = Date.UTC(2026, 2, 2);
      // Two staged records an event (its message's state and its timeline entry): 200,000 within 100 batches.
      const batches = 120;
      for (let b = 0; b < batches; b++) {
        await store.recordEvents(Array.from({ length: 1000 }, (_, i) => classified(`t${b}-${i}`, { message: `m${b}-${i}`, at: T + b * 1000 + i })));
      }
      await new Promise((r) => setTimeout(r, 100));
      // Most entries were applied and left the journal.
      const root = open({ path: dir, maxDbs: 16, mapSize: 2 * 1024 ** 3 });
      const left = root.openDB({ name: 'journal' }).getKeysCount({ start: 0, end: Number.MAX_SAFE_INTEGER });
      expect(left).toBeLessThan(batches / 2);
      expect((await store.campaignCounters('acme', 'spring')).opens.reduce((a, b) => a + b, 0)).toBe(batches * 1000);
      expect(await store.countEvents('acme')).toBe(batches * 1000);
      expect((await store.messageEvents('acme', 'm3-7')).map((e) => e.event!.id)).toEqual(['t3-7']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
