export * from './event-store.port';
export * from './event-matching';
export * from './ledger';
export * from './embedded/lmdb-event-store';
export * from './mongodb/mongo-event-store';
export * from './single-writer';
export * from './store-failure';
export * from './sealed-signing-keys';
