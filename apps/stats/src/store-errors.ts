import { ErrorCode, WinnowError } from '@winnow/grpc';
import { InvalidPageToken, StoreFailure, StoreInputError, storeFailureOf } from '@winnow/storage';

/** Runs a store call, turning storage failures into API errors the caller can act on. */
export async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WinnowError) throw err;
    if (err instanceof StoreInputError || err instanceof InvalidPageToken) throw new WinnowError(ErrorCode.InvalidArgument, err.message);
    // The one mapping of store failures (libs/storage/src/store-failure.ts): transient ones are
    // retried by the caller; a permanent one outside ingest (which keeps dead letters) is the input's.
    const failure = storeFailureOf(err);
    if (failure === StoreFailure.Invalid) throw new WinnowError(ErrorCode.InvalidArgument, `the store refused it: ${(err as Error).message}`);
    if (failure === StoreFailure.Unsupported) throw new WinnowError(ErrorCode.FailedPrecondition, `the store cannot do this: ${(err as Error).message}`);
    throw new WinnowError(ErrorCode.Unavailable, `store unavailable (${failure}): ${(err as Error).message}`);
  }
}

export function requireField(value: string, name: string): string {
  if (!value) throw new WinnowError(ErrorCode.InvalidArgument, `${name} is required`);
  return value;
}
