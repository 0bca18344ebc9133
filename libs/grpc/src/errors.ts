import { status as GrpcStatus } from '@grpc/grpc-js';

/** Every failure a Winnow API can report. One table maps each to a gRPC status and back. */
export enum ErrorCode {
  InvalidArgument = 'invalid_argument',
  NotFound = 'not_found',
  AlreadyExists = 'already_exists',
  Unauthenticated = 'unauthenticated',
  PermissionDenied = 'permission_denied',
  FailedPrecondition = 'failed_precondition',
  ResourceExhausted = 'resource_exhausted',
  Unavailable = 'unavailable',
  DeadlineExceeded = 'deadline_exceeded',
  Cancelled = 'cancelled',
  Internal = 'internal',
}

const toStatus: Record<ErrorCode, GrpcStatus> = {
  [ErrorCode.InvalidArgument]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.AlreadyExists]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.Unauthenticated]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.FailedPrecondition]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ResourceExhausted]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.Unavailable]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.DeadlineExceeded]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCode.Cancelled]: GrpcStatus.CANCELLED,
  [ErrorCode.Internal]: GrpcStatus.INTERNAL,
};

const fromStatus = new Map<GrpcStatus, ErrorCode>(
  Object.entries(toStatus).map(([code, st]) => [st, code as ErrorCode]),
);

/** An error with a code from the closed set above; the message is safe to show to the caller. */
export class WinnowError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WinnowError';
  }
}

export function errorCodeToGrpcStatus(code: ErrorCode): GrpcStatus {
  return toStatus[code];
}

/** Maps a gRPC status to our codes; statuses we never send (UNKNOWN, DATA_LOSS, ...) become Internal. */
export function grpcStatusToErrorCode(status: GrpcStatus): ErrorCode {
  return fromStatus.get(status) ?? ErrorCode.Internal;
}

/** True for failures worth retrying later: the peer is down, overloaded or too slow. */
export function isRetryable(err: unknown): boolean {
  return (
    err instanceof WinnowError &&
    (err.code === ErrorCode.Unavailable ||
      err.code === ErrorCode.DeadlineExceeded ||
      err.code === ErrorCode.ResourceExhausted ||
      err.code === ErrorCode.Cancelled)
  );
}
