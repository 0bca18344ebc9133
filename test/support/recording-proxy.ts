import { createServer, type IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request that went through the proxy, and what the server answered (streamed answers too). */
export interface Recorded {
  method: string;
  path: string;
  accept: string;
  status?: number;
  body: string;
}

/**
 * A plain-HTTP proxy on loopback in front of a real HTTPS API server: every request and its whole
 * answer (watch streams included) are recorded, so a test can check what a client asked for and what
 * it was sent. Nothing is changed on the way.
 */
export async function startRecordingProxy(upstream: string, ca: string): Promise<{ url: string; seen: Recorded[]; close(): Promise<void> }> {
  const seen: Recorded[] = [];
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    const rec: Recorded = { method: req.method ?? 'GET', path: req.url ?? '/', accept: req.headers.accept ?? '', body: '' };
    seen.push(rec);
    const headers: IncomingHttpHeaders = { ...req.headers, host: target.host };
    const up = request(new URL(rec.path, upstream), { method: rec.method, headers, ca }, (answer) => {
      rec.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // A watch's headers come long before its first event: the client waits for them.
      res.flushHeaders();
      answer.on('data', (c: Buffer) => {
        rec.body += c.toString('utf8');
        res.write(c);
      });
      answer.on('end', () => res.end());
      answer.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
