import { ErrorCode, WinnowError } from '@winnow/grpc';
import { InvalidPageToken, SealedKeyError, StoreFailure, StoreInputError, storeFailureOf } from '@winnow/storage';

/** Runs a store call, turning storage failures into API errors the caller can act on. */
export async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WinnowError) throw err;
    if (err instanceof StoreInputError || err instanceof InvalidPageToken) throw new WinnowError(ErrorCode.InvalidArgument, err.message);
    if (err instanceof SealedKeyError) throw new WinnowError(ErrorCode.FailedPrecondition, err.message);
    // The one mapping of store failures (libs/storage/src/store-failure.ts): transient ones are
    // retried by the caller; a permanent one outside ingest (which keeps dead letters) is the input's.
    const failure = storeFailureOf(err);
    if (failure === StoreFailure.Invalid) throw new WinnowError(ErrorCode.InvalidArgument, `the store refused it: ${(err as Error).message}`);
    if (failure === StoreFailure.Unsupported) throw new WinnowError(ErrorCode.FailedPrecondition, `the store cannot do this: ${(err as Error).message}`);
    throw new WinnowError(ErrorCode.Unavailable, `store unavailable (${failure}): ${(err as Error).message}`);
  }
}

/** Longest id, tenant, campaign, message, hostname or key id taken: the stores key on them, and errors quote them. */
export const MAX_NAME = 256;

export function requireField(value: string, name: string): string {
  if (!value) throw new WinnowError(ErrorCode.InvalidArgument, `${name} is required`);
  return limitField(value, name);
}

/**
 * Refuses a name longer than MAX_NAME (empty is the caller's to judge). Past it, a store key would
 * not fit (LMDB takes 1978 bytes), and an error quoting it could outgrow the status trailer.
 */
export function limitField(value: string, name: string): string {
  if (value.length > MAX_NAME) throw new WinnowError(ErrorCode.InvalidArgument, `${name} is ${value.length} characters long (at most ${MAX_NAME})`);
  return value;
}
