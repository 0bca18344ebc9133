import { Histogram, type Registry } from 'prom-client';

/** Latency of gRPC calls a service answers, by method and outcome (`ok` or an error code). */
export function grpcServerHistogram(registry: Registry): Histogram<'method' | 'code'> {
  return new Histogram({
    name: 'winnow_grpc_server_duration_seconds',
    help: 'gRPC calls answered, by method and outcome',
    labelNames: ['method', 'code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
}
