import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { closeClient, requireServiceKey, waitForReady, type ClientOf } from '@winnow/grpc';
import { ClassifierService, type StatsService } from '@winnow/proto';
import type { ClassifierConfig } from '@winnow/config';
import { GrpcServiceHost } from '@winnow/observability';
import { ClassifierApi } from './classifier-api';
import { CLASSIFIER_CONFIG, METRICS, STATS_CLIENT } from './tokens';

/** Owns the classifier's servers: gRPC ClassifierService (service key only) and health/metrics HTTP. */
@Injectable()
export class ClassifierHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly host: GrpcServiceHost;

  constructor(
    @Inject(CLASSIFIER_CONFIG) private readonly config: ClassifierConfig,
    @Inject(STATS_CLIENT) private readonly stats: ClientOf<typeof StatsService>,
    @Inject(METRICS) registry: Registry,
    api: ClassifierApi,
  ) {
    this.host = new GrpcServiceHost(
      {
        registry,
        log: new Logger('ClassifierHost'),
        checks: [{ name: 'stats', check: () => waitForReady(stats, 1000) }],
        bindHost: config.bindHost,
        grpcPort: config.grpcPort,
        httpPort: config.httpPort,
        drainMs: config.drainMs,
        tls: config.grpcTls,
        reflection: config.grpcReflection,
      },
      { before: requireServiceKey(config.serviceKey) },
    );
    this.host.serve(ClassifierService, api.handlers());
  }

  get grpcPort(): number {
    return this.host.grpcPort;
  }

  get httpPort(): number {
    return this.host.httpPort;
  }

  onApplicationBootstrap(): Promise<void> {
    return this.host.start({ stats: this.config.statsAddress });
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.host.drain();
  }

  onApplicationShutdown(): void {
    closeClient(this.stats);
  }
}
