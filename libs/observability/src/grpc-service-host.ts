import type { Logger } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { PLAINTEXT, bindServer, checkTlsFiles, metricsHooks, newServer, serverCredentials, shutdownServer, type ServiceHooks, type TlsSettings } from '@winnow/grpc';
import type { Server } from '@grpc/grpc-js';
import { grpcServerHistogram } from './grpc-metrics';
import { OpsEndpoints, startOpsServer, type ReadinessCheck, type RunningServer } from './ops-endpoints';

export interface GrpcServiceHostOptions {
  registry: Registry;
  log: Logger;
  checks: readonly ReadinessCheck[];
  bindHost: string;
  grpcPort: number;
  httpPort: number;
  drainMs: number;
  /** Transport security of the gRPC port; the HTTP ops port stays plain (probes, scrapes). */
  tls?: TlsSettings;
}

/**
 * What the gRPC services share: a gRPC server with metrics and internal-error logging on every
 * call, a small HTTP server for /healthz /readyz /metrics, start, and drain on shutdown.
 */
export class GrpcServiceHost {
  readonly server: Server = newServer();
  readonly hooks: ServiceHooks;
  private readonly ops: OpsEndpoints;
  private opsServer?: RunningServer;
  grpcPort = 0;
  httpPort = 0;

  constructor(
    private readonly opts: GrpcServiceHostOptions,
    extraHooks: ServiceHooks = {},
  ) {
    this.ops = new OpsEndpoints(opts.registry, opts.checks);
    this.hooks = metricsHooks(
      grpcServerHistogram(opts.registry),
      (method, err) => opts.log.error({ msg: 'internal error', method: method.name, err: String((err as Error)?.stack ?? err) }),
      extraHooks,
    );
  }

  async start(details: Record<string, unknown> = {}): Promise<void> {
    const { bindHost } = this.opts;
    const tls = this.opts.tls ?? PLAINTEXT;
    const identity = checkTlsFiles(tls, true);
    this.grpcPort = await bindServer(this.server, `${bindHost}:${this.opts.grpcPort}`, serverCredentials(tls));
    this.opsServer = await startOpsServer(this.ops, bindHost, this.opts.httpPort);
    this.httpPort = this.opsServer.port;
    this.opts.log.log({ msg: 'listening', grpc: `${bindHost}:${this.grpcPort}`, http: `${bindHost}:${this.httpPort}`, tls: tls.mode, ...(identity ? { certificate: identity } : {}), ...details });
  }

  /** Fails readiness, lets calls in flight finish for up to drainMs, then closes both servers. */
  async drain(): Promise<void> {
    this.ops.startDraining();
    await shutdownServer(this.server, this.opts.drainMs);
    await this.opsServer?.close();
  }
}
