import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { addService, bindServer, closeClient, metricsHooks, newServer, requireServiceKey, shutdownServer, waitForReady, type ClientOf } from '@winnow/grpc';
import { ClassifierService, type StatsService } from '@winnow/proto';
import type { ClassifierConfig } from '@winnow/config';
import { OpsEndpoints, grpcServerHistogram, startOpsServer, type RunningServer } from '@winnow/observability';
import { ClassifierApi } from './classifier-api';
import { CLASSIFIER_CONFIG, METRICS, STATS_CLIENT } from './tokens';

/** Owns the classifier's servers: gRPC ClassifierService and health/metrics HTTP. */
@Injectable()
export class ClassifierHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('ClassifierHost');
  private readonly grpc = newServer();
  private readonly ops: OpsEndpoints;
  private opsServer?: RunningServer;
  grpcPort = 0;
  httpPort = 0;

  constructor(
    @Inject(CLASSIFIER_CONFIG) private readonly config: ClassifierConfig,
    @Inject(STATS_CLIENT) private readonly stats: ClientOf<typeof StatsService>,
    @Inject(METRICS) registry: Registry,
    api: ClassifierApi,
  ) {
    this.ops = new OpsEndpoints(registry, [{ name: 'stats', check: () => waitForReady(stats, 1000) }]);
    addService(
      this.grpc,
      ClassifierService,
      api.handlers(),
      metricsHooks(
        grpcServerHistogram(registry),
        (method, err) => this.log.error({ msg: 'internal error', method: method.name, err: String((err as Error)?.stack ?? err) }),
        { before: requireServiceKey(config.serviceKey) },
      ),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    this.grpcPort = await bindServer(this.grpc, `${this.config.bindHost}:${this.config.grpcPort}`);
    this.opsServer = await startOpsServer(this.ops, this.config.bindHost, this.config.httpPort);
    this.httpPort = this.opsServer.port;
    this.log.log({ msg: 'listening', grpc: `${this.config.bindHost}:${this.grpcPort}`, http: `${this.config.bindHost}:${this.httpPort}`, stats: this.config.statsAddress });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ops.startDraining();
    await shutdownServer(this.grpc, this.config.drainMs);
    await this.opsServer?.close();
  }

  onApplicationShutdown(): void {
    closeClient(this.stats);
  }
}
