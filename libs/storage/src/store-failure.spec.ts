import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { classified } from './conformance.suite';
import { LmdbEventStore } from './embedded/lmdb-event-store';
import { MongoEventStore } from './mongodb/mongo-event-store';
import { StaleHistoryError } from './event-store.port';
import { StoreInputError } from './ledger';
import { SecondWriterError } from './single-writer';
import { StoreFailure, isTransient, storeFailureOf } from './store-failure';

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the store to refuse this');
}

describe('store failures, mapped once from each adapter’s real errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-failures-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('LMDB: a key past its limit is the input’s fault (permanent)', async () => {
    const store = new LmdbEventStore(join(dir, 'lmdb'));
    try {
      await store.init();
      const err = await failure(store.recordEvents([classified('x'.repeat(3000), {})]));
      expect(String(err)).toMatch(/key size/i);
      expect(storeFailureOf(err)).toBe(StoreFailure.Invalid);
      expect(isTransient(storeFailureOf(err))).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('LMDB: a read keyed past its limit is the input’s fault too (found by fuzzing)', async () => {
    const store = new LmdbEventStore(join(dir, 'lmdb-read'));
    try {
      await store.init();
      for (const read of [() => store.getReclassification('a'.repeat(4093)), () => store.campaignCounters('a'.repeat(4093), 'c'), () => store.listDeadLetters('a'.repeat(2000), 10, '')]) {
        const err = await failure(read());
        expect(storeFailureOf(err)).toBe(StoreFailure.Invalid);
      }
    } finally {
      await store.close();
    }
  });

  it('our own errors: input, a moved history, a second writer', () => {
    expect(storeFailureOf(new StoreInputError('bad'))).toBe(StoreFailure.Invalid);
    expect(storeFailureOf(new RangeError('counter for source 1 would go negative'))).toBe(StoreFailure.Invalid);
    expect(storeFailureOf(new StaleHistoryError('t', 1, 2))).toBe(StoreFailure.Conflict);
    expect(storeFailureOf(new SecondWriterError('held'))).toBe(StoreFailure.NotWriter);
    expect([StoreFailure.Conflict, StoreFailure.NotWriter, StoreFailure.Unavailable].every(isTransient)).toBe(true);
    // Anything not known is retried, never dropped.
    expect(storeFailureOf(new Error('something new'))).toBe(StoreFailure.Unavailable);
  });

  it('MongoDB driver: an unreachable server is transient', async () => {
    const store = new MongoEventStore({ url: 'mongodb://127.0.0.1:9/', retentionDays: 0, serverSelectionTimeoutMs: 300 });
    const err = await failure(store.init());
    expect(storeFailureOf(err)).toBe(StoreFailure.Unavailable);
    await store.close().catch(() => undefined);
  });

  const url = process.env['MONGODB_URL'];
  describe.runIf(url || process.env['CI'] === 'true')('on the MongoDB server (FerretDB in CI)', () => {
    it('a duplicate key is a conflict (transient: planned again)', async () => {
      const client = await new MongoClient(url!).connect();
      try {
        const c = client.db(`winnow_failures_${process.pid}`).collection<{ _id: string }>('x');
        await c.insertOne({ _id: 'a' });
        const err = await failure(c.insertOne({ _id: 'a' }));
        expect(storeFailureOf(err)).toBe(StoreFailure.Conflict);
        await client.db(`winnow_failures_${process.pid}`).dropDatabase();
      } finally {
        await client.close();
      }
    });

    it('what the server cannot hold or do: permanent, whichever way this server answers', async () => {
      const client = await new MongoClient(url!).connect();
      try {
        const db = client.db(`winnow_failures_${process.pid}`);
        // FerretDB refuses a field name starting with '$' (BadValue) and TTL indexes (NotImplemented);
        // MongoDB 5+ takes both. Where the server refuses, the mapping must say permanent.
        const bad = await db.collection('x').insertOne({ data: { $x: 1 } }).then(() => undefined, (e: unknown) => e);
        if (bad) expect(storeFailureOf(bad)).toBe(StoreFailure.Invalid);
        const ttl = await db.collection('y').createIndex({ at: 1 }, { expireAfterSeconds: 5 }).then(() => undefined, (e: unknown) => e);
        if (ttl) expect(storeFailureOf(ttl)).toBe(StoreFailure.Unsupported);
        await db.dropDatabase();
      } finally {
        await client.close();
      }
    });
  });
});
