import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A dependency a service needs to do its work; /readyz fails while any check throws. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

/**
 * /healthz (the process is alive), /readyz (dependencies reachable, not draining) and /metrics.
 * Mounted on a service's own HTTP server (the collector) or on a small one of its own.
 */
export class OpsEndpoints {
  private draining = false;

  constructor(
    private readonly registry: Registry,
    private readonly checks: readonly ReadinessCheck[] = [],
  ) {}

  /** After SIGTERM: /readyz fails so load balancers stop sending, while /healthz stays up. */
  startDraining(): void {
    this.draining = true;
  }

  async readiness(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const results: Record<string, string> = {};
    let ready = !this.draining;
    if (this.draining) results['draining'] = 'shutting down';
    await Promise.all(
      this.checks.map(async (c) => {
        try {
          await c.check();
          results[c.name] = 'ok';
        } catch (err) {
          ready = false;
          results[c.name] = (err as Error).message;
        }
      }),
    );
    return { ready, checks: results };
  }

  /** Serves the request if its path is one of ours; returns false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      void this.readiness().then((r) => {
        res
          .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }));
      });
      return true;
    }
    if (path === '/metrics') {
      void this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
      return true;
    }
    return false;
  }
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port (0 = any free port) and resolves with the bound port. */
export function listen(server: Server, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** A small HTTP server with only the ops endpoints, for the gRPC services. */
export function startOpsServer(ops: OpsEndpoints, host: string, port: number): Promise<RunningServer> {
  const server = createServer((req, res) => {
    if (!ops.handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return listen(server, host, port);
}
