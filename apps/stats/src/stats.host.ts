import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { addService, bindServer, metricsHooks, newServer, shutdownServer } from '@winnow/grpc';
import { ConfigService, StatsService } from '@winnow/proto';
import type { StatsConfig } from '@winnow/config';
import { OpsEndpoints, grpcServerHistogram, startOpsServer, type RunningServer } from '@winnow/observability';
import type { EventStore } from '@winnow/storage';
import { ConfigApi } from './config-api';
import { StatsApi } from './stats-api';
import { Authenticator } from './auth';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

/** Owns the stats service's servers: gRPC (StatsService, ConfigService) and health/metrics HTTP. */
@Injectable()
export class StatsHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('StatsHost');
  private readonly grpc = newServer();
  private readonly ops: OpsEndpoints;
  private opsServer?: RunningServer;
  grpcPort = 0;
  httpPort = 0;

  constructor(
    @Inject(STATS_CONFIG) private readonly config: StatsConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(METRICS) registry: Registry,
    stats: StatsApi,
    configApi: ConfigApi,
    auth: Authenticator,
  ) {
    this.ops = new OpsEndpoints(registry, [{ name: 'store', check: () => store.ping() }]);
    const hooks = metricsHooks(
      grpcServerHistogram(registry),
      (method, err) => this.log.error({ msg: 'internal error', method: method.name, err: String((err as Error)?.stack ?? err) }),
      auth.hooks(),
    );
    addService(this.grpc, StatsService, stats.handlers(), hooks);
    addService(this.grpc, ConfigService, configApi.handlers(), hooks);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.grpcPort = await bindServer(this.grpc, `${this.config.bindHost}:${this.config.grpcPort}`);
    this.opsServer = await startOpsServer(this.ops, this.config.bindHost, this.config.httpPort);
    this.httpPort = this.opsServer.port;
    this.log.log({ msg: 'listening', grpc: `${this.config.bindHost}:${this.grpcPort}`, http: `${this.config.bindHost}:${this.httpPort}`, store: this.config.store });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ops.startDraining();
    await shutdownServer(this.grpc, this.config.drainMs);
    await this.opsServer?.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
