import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { ConfigService, StatsService } from '@winnow/proto';
import type { StatsConfig } from '@winnow/config';
import { GrpcServiceHost } from '@winnow/observability';
import type { EventStore } from '@winnow/storage';
import { ConfigApi } from './config-api';
import { StatsApi } from './stats-api';
import { Authenticator } from './auth';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

/** Owns the stats service's servers: gRPC (StatsService, ConfigService) and health/metrics HTTP. */
@Injectable()
export class StatsHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly host: GrpcServiceHost;

  constructor(
    @Inject(STATS_CONFIG) private readonly config: StatsConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(METRICS) registry: Registry,
    stats: StatsApi,
    configApi: ConfigApi,
    auth: Authenticator,
  ) {
    this.host = new GrpcServiceHost(
      {
        registry,
        log: new Logger('StatsHost'),
        checks: [{ name: 'store', check: () => store.ping() }],
        bindHost: config.bindHost,
        grpcPort: config.grpcPort,
        httpPort: config.httpPort,
        drainMs: config.drainMs,
        tls: config.grpcTls,
        reflection: config.grpcReflection,
      },
      auth.hooks(),
    );
    this.host.serve(StatsService, stats.handlers());
    this.host.serve(ConfigService, configApi.handlers());
  }

  get grpcPort(): number {
    return this.host.grpcPort;
  }

  get httpPort(): number {
    return this.host.httpPort;
  }

  onApplicationBootstrap(): Promise<void> {
    return this.host.start({ store: this.config.store });
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.host.drain();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
