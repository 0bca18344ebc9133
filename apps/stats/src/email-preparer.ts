import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Piscina } from 'piscina';
import type { StatsConfig } from '@winnow/config';
import { ErrorCode, WinnowError } from '@winnow/grpc';
import type { PrepareOptions, PreparedEmail } from '@winnow/mail';
import type { TrackingDomain } from '@winnow/proto';
import { STATS_CONFIG } from './tokens';
import type { PrepareOutcome, PrepareTask } from './prepare-worker';

/** The built worker; from the sources (tests) too, as the launcher finds the services' main files. */
const WORKER = join(__dirname, '..', 'dist', 'prepare-worker.js');

/**
 * Prepares mails (PrepareEmail) on worker threads. Preparing is all CPU: parsing the HTML and
 * sealing a token per link took about 20 ms for a 60 KB mail and over a second for the largest one
 * allowed (4 MiB) on the development machine. On the service's own thread that time stopped the
 * pipeline's Ingest calls, every other call and the health checks; on a worker they go on.
 * WINNOW_PREPARE_THREADS workers (default 1), started on first use and stopped when idle; beyond
 * WINNOW_PREPARE_QUEUE mails waiting for one (default 64), a call is refused with RESOURCE_EXHAUSTED.
 */
@Injectable()
export class EmailPreparer implements OnApplicationShutdown {
  private readonly log = new Logger('EmailPreparer');
  private readonly pool: Piscina<PrepareTask, PrepareOutcome>;
  /** Calls running or waiting: counted here, as piscina does not bound tasks that carry a signal. */
  private inFlight = 0;
  private readonly limit: number;

  constructor(@Inject(STATS_CONFIG) config: StatsConfig) {
    // Missing when the services were not built: said at start, not at the first mail.
    if (!existsSync(WORKER)) throw new Error(`the mail-preparing worker ${WORKER} is missing: build the workspace (npm run build)`);
    this.limit = config.prepareThreads + config.prepareQueue;
    // No Node options for the workers: they refuse V8 and process flags (the launcher's
    // --max-semi-space-size), and a test runner's --conditions would load TypeScript sources.
    this.pool = new Piscina({ filename: WORKER, minThreads: 0, maxThreads: config.prepareThreads, idleTimeout: 60_000, execArgv: [] });
    // A worker that cannot start (a broken install) is said in the log; the call gets UNAVAILABLE or its deadline.
    this.pool.on('error', (err: unknown) => this.log.error({ msg: 'a mail-preparing worker failed', error: err instanceof Error ? err.message : String(err) }));
  }

  /**
   * Prepares `html` for one recipient with the domain's sealing key. A mail the caller got wrong is
   * INVALID_ARGUMENT, too many waiting RESOURCE_EXHAUSTED, a call that ended CANCELLED, a worker that
   * stopped UNAVAILABLE.
   */
  async prepare(html: string, domain: TrackingDomain, opts: Omit<PrepareOptions, 'keyring'>, signal: AbortSignal): Promise<PreparedEmail> {
    if (signal.aborted) throw new WinnowError(ErrorCode.Cancelled, 'the call ended before the mail was prepared');
    if (this.inFlight >= this.limit) throw new WinnowError(ErrorCode.ResourceExhausted, `${this.limit} mails are already being prepared or waiting; retry shortly`);
    const sealing = domain.keys.find((k) => k.sealing);
    // Only the key that seals: the others (kept to open older links) need not reach the worker.
    const task: PrepareTask = { html, keys: sealing ? [{ id: sealing.id, secret: sealing.secret }] : [], sealingKeyId: sealing?.id, ...opts };
    // A signal of this task's own, unlinked when it settles: the call's signal is aborted after every
    // call ends, and piscina would then reject a task it had already given up on with no one to hear it.
    const own = new AbortController();
    const abort = () => own.abort();
    signal.addEventListener('abort', abort, { once: true });
    this.inFlight++;
    let outcome: PrepareOutcome;
    try {
      outcome = await this.pool.run(task, { signal: own.signal });
    } catch (err) {
      if (signal.aborted) throw new WinnowError(ErrorCode.Cancelled, 'the call ended before the mail was prepared');
      const message = err instanceof Error ? err.message : String(err);
      // A worker that stopped or could not start (piscina's own errors); anything else is a fault of ours (INTERNAL).
      if (!/worker|terminat/i.test(message)) throw err;
      this.log.error({ msg: 'preparing a mail failed in its worker', error: message });
      throw new WinnowError(ErrorCode.Unavailable, 'the mail could not be prepared (its worker stopped); retry');
    } finally {
      this.inFlight--;
      signal.removeEventListener('abort', abort);
    }
    if (!outcome.ok) throw new WinnowError(ErrorCode.InvalidArgument, outcome.problem);
    return outcome.prepared;
  }

  /** After the gRPC server has drained (beforeApplicationShutdown), so calls in flight finish first. */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.destroy();
  }
}
