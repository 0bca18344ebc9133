import { join } from 'node:path';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Piscina } from 'piscina';
import type { StatsConfig } from '@winnow/config';
import { ErrorCode, WinnowError } from '@winnow/grpc';
import type { PreparedEmail } from '@winnow/mail';
import type { TrackingDomain } from '@winnow/proto';
import { STATS_CONFIG } from './tokens';
import type { PrepareOutcome, PrepareTask } from './prepare-worker';

/** The built worker; from the sources (tests) too, as the launcher finds the services' main files. */
const WORKER = join(__dirname, '..', 'dist', 'prepare-worker.js');
/** Mails waiting for a worker beyond which PrepareEmail answers RESOURCE_EXHAUSTED. */
const MAX_QUEUED = 64;

/**
 * The parent's Node options for the workers, less any `--conditions`: a test runner resolves the
 * workspace's packages to their TypeScript sources with one, and the workers run the built code.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--conditions' || a === '-C') i++;
    else if (!a.startsWith('--conditions=')) out.push(a);
  }
  return out;
}

/**
 * Prepares mails (PrepareEmail) on worker threads. Preparing is all CPU: parsing the HTML and
 * sealing a token per link took about 20 ms for a 60 KB mail and over a second for the largest one
 * allowed (4 MiB) on the development machine. On the service's own thread that time stopped the
 * pipeline's Ingest calls, every other call and the health checks; on a worker they go on.
 * WINNOW_PREPARE_THREADS workers (default 1), started on first use and stopped when idle.
 */
@Injectable()
export class EmailPreparer implements OnModuleDestroy {
  private readonly pool: Piscina<PrepareTask, PrepareOutcome>;

  constructor(@Inject(STATS_CONFIG) config: StatsConfig) {
    this.pool = new Piscina({ filename: WORKER, minThreads: 0, maxThreads: config.prepareThreads, idleTimeout: 60_000, maxQueue: MAX_QUEUED, execArgv: workerExecArgv() });
  }

  /** Prepares `html` for one recipient; a mail the caller got wrong is INVALID_ARGUMENT, a full queue RESOURCE_EXHAUSTED. */
  async prepare(html: string, domain: TrackingDomain, opts: Omit<PrepareTask, 'html' | 'keys' | 'sealingKeyId'>, signal: AbortSignal): Promise<PreparedEmail> {
    const task: PrepareTask = {
      html,
      keys: domain.keys.map((k) => ({ id: k.id, secret: k.secret })),
      sealingKeyId: domain.keys.find((k) => k.sealing)?.id,
      ...opts,
    };
    let outcome: PrepareOutcome;
    try {
      outcome = await this.pool.run(task, { signal });
    } catch (err) {
      if (signal.aborted) throw new WinnowError(ErrorCode.Cancelled, 'the call ended before the mail was prepared');
      if (err instanceof Error && /queue is at limit/i.test(err.message)) {
        throw new WinnowError(ErrorCode.ResourceExhausted, `${MAX_QUEUED} mails are already waiting to be prepared; retry shortly`);
      }
      throw err;
    }
    if (!outcome.ok) throw new WinnowError(ErrorCode.InvalidArgument, outcome.problem);
    return outcome.prepared;
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.destroy();
  }
}
