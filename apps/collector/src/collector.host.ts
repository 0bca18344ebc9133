import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { closeClient, waitForReady, type ClientOf } from '@winnow/grpc';
import type { ClassifierService, ConfigService } from '@winnow/proto';
import type { CollectorConfig } from '@winnow/config';
import { OpsEndpoints, listen, startOpsServer, type RunningServer } from '@winnow/observability';
import { CollectorMetrics } from './collector.metrics';
import { DomainRegistry } from './domain-registry';
import { absoluteTarget, clientIp, compileTrust, parseRoute, scanHeaders, type ProxyTrust } from './edge-request';
import { EventPipeline } from './event-pipeline';
import { PIXEL_GIF, PIXEL_HEADERS } from './pixel';
import { TRACKED_METHODS, TrackingService, routeName, type Outcome } from './tracking.service';
import { CLASSIFIER_CLIENT, COLLECTOR_CONFIG, CONFIG_CLIENT, METRICS } from './tokens';
import { TickBatch } from './tick-batch';

/** Longest request target accepted (a sealed link token with a long target fits well within). */
export const MAX_URL_CHARS = 8192;
/** Request line and headers together; Node answers 431 beyond this. */
export const MAX_HEADER_BYTES = 16 * 1024;

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

/** The collector's public HTTP server (tracking paths only) and its private ops server. */
@Injectable()
export class CollectorHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('CollectorHost');
  private readonly ops: OpsEndpoints;
  private readonly server: Server;
  private readonly trust: ProxyTrust;
  private readonly batch = new TickBatch();
  private running?: RunningServer;
  private opsServer?: RunningServer;
  httpPort = 0;
  opsPort = 0;

  constructor(
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    @Inject(METRICS) registry: Registry,
    @Inject(CLASSIFIER_CLIENT) private readonly classifier: ClientOf<typeof ClassifierService>,
    @Inject(CONFIG_CLIENT) private readonly configClient: ClientOf<typeof ConfigService>,
    private readonly domains: DomainRegistry,
    private readonly pipeline: EventPipeline,
    private readonly tracking: TrackingService,
    private readonly metrics: CollectorMetrics,
  ) {
    this.trust = compileTrust(config.trustedProxies);
    this.ops = new OpsEndpoints(registry, [
      {
        name: 'tracking_domains',
        check: async () => {
          if (!domains.loaded) throw new Error('not loaded yet');
        },
      },
      { name: 'classifier', check: () => waitForReady(classifier, 1000) },
    ]);
    this.server = createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        keepAliveTimeout: Math.min(5_000, config.idleTimeoutMs),
        // How often Node checks the two timeouts above (its default, 30 s, lets a slow client linger).
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(config.headersTimeoutMs / 4))),
      },
      (req, res) => this.onRequest(req, res),
    );
    // A client that ends its side after sending the request (a shell's `printf | nc -N`, some
    // scanners) still gets its answer: the event is stored either way, and Node would otherwise drop
    // the answer when the request side ends. (A property of Node's server, not a constructor option.)
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // A connection with no traffic at all is cut.
    this.server.setTimeout(config.idleTimeoutMs, (socket) => socket.destroy());
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    if ((req.url ?? '').length > MAX_URL_CHARS) return this.plain(res, 'other', method, 414, 'URI too long\n');
    const absolute = absoluteTarget(req.url ?? '/');
    const route = parseRoute(absolute?.path ?? req.url ?? '/');
    if (!route) return this.plain(res, 'other', method, 404, 'not found\n');
    const name = routeName(route);
    if (!TRACKED_METHODS.has(method)) {
      res.setHeader('allow', 'GET, HEAD, OPTIONS');
      return this.plain(res, name, method, 405, 'method not allowed\n');
    }
    const headers = scanHeaders(req.rawHeaders);
    if (headers.repeatedHost) return this.plain(res, name, method, 400, 'more than one Host header\n');
    const seen = {
      // An absolute request target names the host; any Host header is then ignored (RFC 9112, 3.2.2).
      host: absolute?.host ?? headers.host,
      method,
      ip: clientIp(req.socket.remoteAddress, headers.forwardedFor, this.trust),
      headers: headers.kept,
      atMs: Date.now(),
    };
    // The token is opened and the event captured with the other requests of this turn (TickBatch).
    this.batch.add(
      () =>
        this.tracking.track(route, seen, (outcome) => {
          try {
            this.respond(res, method, outcome, name);
          } catch (err) {
            // The event is on disk; only the answer failed. Say so to this client, and go on serving.
            this.log.error({ msg: 'could not answer a tracked request', route: name, error: err instanceof Error ? err.message : String(err) });
            if (!res.headersSent && !res.destroyed) this.plain(res, name, method, 500, 'internal error\n');
          }
          this.metrics.requestSeconds(name, Number(process.hrtime.bigint() - started) / 1e9);
        }),
      (err) => {
        this.log.error({ msg: 'tracking request failed', route: name, error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent && !res.destroyed) this.plain(res, name, method, 500, 'internal error\n');
      },
    );
  }

  private respond(res: ServerResponse, method: string, outcome: Outcome, route: string): void {
    switch (outcome.kind) {
      case 'pixel':
        res.writeHead(200, PIXEL_HEADERS).end(method === 'HEAD' ? undefined : PIXEL_GIF);
        this.metrics.request(route, method, '200');
        return;
      case 'redirect':
        res.writeHead(302, { location: outcome.location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': '0' }).end();
        this.metrics.request(route, method, '302');
        return;
      case 'options':
        res.writeHead(204, { allow: 'GET, HEAD, OPTIONS', 'cache-control': 'no-store' }).end();
        this.metrics.request(route, method, '204');
        return;
      case 'not_found':
        return this.plain(res, route, method, 404, 'This link is not valid.\n');
    }
  }

  private plain(res: ServerResponse, route: string, method: string, status: number, body: string): void {
    res.writeHead(status, TEXT).end(body);
    this.metrics.request(route, TRACKED_METHODS.has(method) ? method : 'other', String(status));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.domains.refresh();
    this.domains.start();
    this.pipeline.start();
    this.running = await listen(this.server, this.config.bindHost, this.config.httpPort);
    this.opsServer = await startOpsServer(this.ops, this.config.bindHost, this.config.opsPort);
    this.httpPort = this.running.port;
    this.opsPort = this.opsServer.port;
    this.log.log({ msg: 'listening', http: `${this.config.bindHost}:${this.httpPort}`, ops: `${this.config.bindHost}:${this.opsPort}`, classifier: this.config.classifierAddress });
  }

  /** SIGTERM: fail readiness, stop accepting, then hand queued events downstream. */
  async beforeApplicationShutdown(): Promise<void> {
    this.ops.startDraining();
    await this.running?.close();
    const left = await this.pipeline.drain(this.config.drainMs);
    this.log.log({ msg: 'drained', leftInSpool: left });
    await this.opsServer?.close();
  }

  onApplicationShutdown(): void {
    closeClient(this.classifier);
    closeClient(this.configClient);
  }
}
