import { ErrorCode, WinnowError } from '@winnow/grpc';

/** Rows as aligned text columns, the first row the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

export const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

export const when = (unixMs: string | number | bigint) => (Number(unixMs) > 0 ? new Date(Number(unixMs)).toISOString() : '-');

/** A JSON line of `value`, with int64 strings and the like as they are. */
export const json = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * What went wrong and what to do, for an error a command got from the statistics service.
 * Anything else is said as it is.
 */
export function explain(err: unknown): string {
  if (!(err instanceof WinnowError)) return (err as Error).message ?? String(err);
  const what = err.message;
  switch (err.code) {
    case ErrorCode.Unauthenticated:
      return `${what}: give an API key with --key or WINNOW_API_KEY (or the service key in WINNOW_SERVICE_KEY)`;
    case ErrorCode.PermissionDenied:
      return `${what}: use a key of this tenant with the scope the call needs (winnow keys create --scope ...), or the service key`;
    case ErrorCode.Unavailable:
      return `the statistics service did not answer (${what}): is it running, and is --stats or WINNOW_STATS_ADDR its gRPC address?`;
    case ErrorCode.DeadlineExceeded:
      return `the statistics service did not answer in time (${what}); try again, or narrow the query`;
    case ErrorCode.NotFound:
      return `${what}: check the tenant and the name`;
    case ErrorCode.InvalidArgument:
      return `${what}: see --help`;
    default:
      return what;
  }
}
