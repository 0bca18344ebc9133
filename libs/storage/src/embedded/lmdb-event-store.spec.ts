import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStoreConformance } from '../conformance.suite';
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
