import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { DeadLetterSchema } from '@winnow/proto';
import { classified, eventStoreConformance } from '../conformance.suite';
import { describe, expect, it } from 'vitest';
import { open } from 'lmdb';
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
