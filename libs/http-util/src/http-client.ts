import { request } from 'node:http';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpCall {
  port: number;
  path: string;
  method?: string;
  /** The Host header (fetch cannot set it; tracking domains need it). */
  host?: string;
  headers?: Record<string, string>;
}

/** One real HTTP/1.1 request to a loopback port, with full control of the Host header. */
export function httpRequest(call: HttpCall): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: call.port,
        path: call.path,
        method: call.method ?? 'GET',
        headers: { ...(call.host ? { host: call.host } : {}), ...call.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Polls `probe` until it returns a value that `done` accepts, or fails after timeoutMs. */
export async function eventually<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < until) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((ok) => setTimeout(ok, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(last)}${lastErr ? `; last error ${String(lastErr)}` : ''}`);
}
