import { ErrorCode, WinnowError } from '@winnow/grpc';
import { InvalidPageToken, StoreInputError } from '@winnow/storage';

/** Runs a store call, turning storage failures into API errors the caller can act on. */
export async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WinnowError) throw err;
    if (err instanceof StoreInputError || err instanceof InvalidPageToken) throw new WinnowError(ErrorCode.InvalidArgument, err.message);
    throw new WinnowError(ErrorCode.Unavailable, `store unavailable: ${(err as Error).message}`);
  }
}

export function requireField(value: string, name: string): string {
  if (!value) throw new WinnowError(ErrorCode.InvalidArgument, `${name} is required`);
  return value;
}
