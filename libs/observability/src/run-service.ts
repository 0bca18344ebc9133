import pino from 'pino';
import { JsonLogger } from './logger';
import type { RunningService } from './running-service';

/**
 * The `main` of every service: parse configuration (a bad value stops the process with a message
 * naming the variable, exit code 2), start, and on SIGTERM or SIGINT drain and exit 0.
 */
export async function runService<C>(name: string, load: () => C, start: (config: C) => Promise<RunningService>): Promise<void> {
  // Its own lines in the services' one format (info and above, before the configuration is read).
  const log = new JsonLogger(name, 'info');
  let config: C;
  try {
    config = load();
  } catch (err) {
    log.fatal(`configuration: ${(err as Error).message}`);
    process.exit(2);
  }
  let service: RunningService;
  try {
    service = await start(config);
  } catch (err) {
    log.fatal(`could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  // One line on stdout that launchers and people can read: where the service listens (same format).
  new JsonLogger(name, 'info', pino.destination({ fd: 1, sync: true })).log({ msg: 'listening', listening: service.ports });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal}: draining`);
    service.close().then(
      () => process.exit(0),
      (err: Error) => {
        log.error(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
