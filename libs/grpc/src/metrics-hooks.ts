import type { DescMethod } from '@bufbuild/protobuf';
import type { ServiceHooks } from './server';
import type { ErrorCode } from './errors';

/** The shape of a prom-client Histogram we need, so this library does not depend on a registry. */
export interface CallHistogram {
  observe(labels: { method: string; code: string }, seconds: number): void;
}

/** Hooks that time every call into a histogram labelled by method and outcome. */
export function metricsHooks(histogram: CallHistogram, onInternalError: (method: DescMethod, err: unknown) => void, extra: ServiceHooks = {}): ServiceHooks {
  return {
    ...extra,
    after(method, code: ErrorCode | 'ok', seconds: number, ctx) {
      histogram.observe({ method: `${method.parent.name}.${method.name}`, code }, seconds);
      extra.after?.(method, code, seconds, ctx);
    },
    onInternalError,
  };
}
