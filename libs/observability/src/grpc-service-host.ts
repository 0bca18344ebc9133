import type { Logger } from '@nestjs/common';
import type { Registry } from 'prom-client';
import type { DescService } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { PLAINTEXT, addService, bindServer, metricsHooks, newServer, serverCredentials, shutdownServer, type ServiceHooks, type ServiceImpl, type TlsSettings } from '@winnow/grpc';
import { GrpcHealth, addReflection } from './grpc-conventions';
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
  /** Server reflection beside the services (WINNOW_GRPC_REFLECTION, default on). */
  reflection?: boolean;
}

/** How often the gRPC health status follows the readiness checks. */
const HEALTH_EVERY_MS = 5_000;

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
  private readonly services: DescService[] = [];
  private health?: GrpcHealth;
  private healthTimer?: NodeJS.Timeout;

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

  /** Adds a service with the host's hooks (metrics, errors, and the caller's: authentication, audit). */
  serve<T extends GenServiceMethods>(service: GenService<T>, impl: ServiceImpl<T>): void {
    addService(this.server, service, impl, this.hooks);
    this.services.push(service);
  }

  private async followReadiness(): Promise<void> {
    this.health?.set((await this.ops.readiness()).ready);
  }

  async start(details: Record<string, unknown> = {}): Promise<void> {
    const { bindHost } = this.opts;
    // The gRPC conventions answer without a key and are not audited: they bypass the hooks.
    this.health = new GrpcHealth(this.server, this.services);
    if (this.opts.reflection !== false) addReflection(this.server, this.services);
    const tls = this.opts.tls ?? PLAINTEXT;
    const { credentials, identity } = serverCredentials(tls);
    this.grpcPort = await bindServer(this.server, `${bindHost}:${this.opts.grpcPort}`, credentials);
    this.opsServer = await startOpsServer(this.ops, bindHost, this.opts.httpPort);
    this.httpPort = this.opsServer.port;
    await this.followReadiness();
    this.healthTimer = setInterval(() => void this.followReadiness(), HEALTH_EVERY_MS);
    this.healthTimer.unref();
    this.opts.log.log({ msg: 'listening', grpc: `${bindHost}:${this.grpcPort}`, http: `${bindHost}:${this.httpPort}`, tls: tls.mode, ...(identity ? { certificate: identity } : {}), ...details });
  }

  /** Fails readiness, lets calls in flight finish for up to drainMs, then closes both servers. */
  async drain(): Promise<void> {
    this.ops.startDraining();
    clearInterval(this.healthTimer);
    this.health?.set(false);
    await shutdownServer(this.server, this.opts.drainMs);
    await this.opsServer?.close();
  }
}
