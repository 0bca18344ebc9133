import { MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { StaleHistoryError } from './event-store.port';
import { StoreInputError } from './ledger';
import { SecondWriterError } from './single-writer';

/**
 * What a store error means for the events that met it: the one closed list, mapped once here from
 * every adapter's own errors. Transient kinds are retried with backoff (the events wait in the
 * collector's spool); permanent kinds will fail the same way again for the same events, which go to
 * the dead letters so that everything behind them moves on.
 */
export enum StoreFailure {
  /** Transient: the store cannot be reached, timed out, or is failing over. */
  Unavailable = 'unavailable',
  /** Transient: another writer got there first (a duplicate insert, a moved history); plan again. */
  Conflict = 'conflict',
  /** Transient for the whole service: this process may not write (another holds the store). */
  NotWriter = 'not_writer',
  /** Permanent for these events: the store refuses their content (a key too long, a field name it cannot hold). */
  Invalid = 'invalid',
  /** Permanent for these events: the server lacks a feature their write needs. */
  Unsupported = 'unsupported',
}

export const TRANSIENT_FAILURES: ReadonlySet<StoreFailure> = new Set([StoreFailure.Unavailable, StoreFailure.Conflict, StoreFailure.NotWriter]);

export const isTransient = (f: StoreFailure) => TRANSIENT_FAILURES.has(f);

/** MongoDB server error codes that name the input, not the server's state. */
const INVALID_CODES = new Set([
  2, // BadValue (FerretDB: "invalid key", a field name starting with '$' or holding '.')
  9, // FailedToParse
  10334, // BSONObjectTooLarge
  17280, // KeyTooLong
  16755, // Location16755 (cannot extract keys)
]);
const UNSUPPORTED_CODES = new Set([
  238, // NotImplemented (FerretDB)
  115, // CommandNotSupported
]);

/** One adapter error, as a StoreFailure. Anything unknown is taken as transient: retried, never dropped. */
export function storeFailureOf(err: unknown): StoreFailure {
  if (err instanceof StoreInputError) return StoreFailure.Invalid;
  if (err instanceof StaleHistoryError) return StoreFailure.Conflict;
  if (err instanceof SecondWriterError) return StoreFailure.NotWriter;
  if (err instanceof MongoServerError) {
    if (err.code === 11000) return StoreFailure.Conflict;
    if (typeof err.code === 'number' && INVALID_CODES.has(err.code)) return StoreFailure.Invalid;
    if (typeof err.code === 'number' && UNSUPPORTED_CODES.has(err.code)) return StoreFailure.Unsupported;
    return StoreFailure.Unavailable;
  }
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError || err instanceof MongoError) return StoreFailure.Unavailable;
  if (err instanceof RangeError && /out of range/i.test(err.message)) return StoreFailure.Invalid; // a document over the wire limit
  // The counting maths refuses a move that would take a counter below zero: the input would fail the
  // same way again (it was taken for an outage and retried for ever, blocking what came behind it).
  if (err instanceof RangeError && /would go negative/.test(err.message)) return StoreFailure.Invalid;
  // LMDB (lmdb-js): a key over the page's limit is the input's fault (a write says the first, a read
  // one of the other two); the map grows by itself.
  if (err instanceof Error && /key size is larger than the maximum key size|MDB_BAD_VALSIZE|key of size \d+ was too large|string does not fit in target buffer/i.test(err.message)) return StoreFailure.Invalid;
  return StoreFailure.Unavailable;
}
