import type { RunningService } from './running-service';

function logLine(level: string, service: string, message: string, extra: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ level, service, message, ...extra, time: new Date().toISOString() })}\n`);
}

/**
 * The `main` of every service: parse configuration (a bad value stops the process with a message
 * naming the variable, exit code 2), start, and on SIGTERM or SIGINT drain and exit 0.
 */
export async function runService<C>(name: string, load: () => C, start: (config: C) => Promise<RunningService>): Promise<void> {
  let config: C;
  try {
    config = load();
  } catch (err) {
    logLine('fatal', name, `configuration: ${(err as Error).message}`);
    process.exit(2);
  }
  let service: RunningService;
  try {
    service = await start(config);
  } catch (err) {
    logLine('fatal', name, `could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  // One line on stdout that launchers and people can read: where the service listens.
  process.stdout.write(`${JSON.stringify({ service: name, listening: service.ports })}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logLine('info', name, `${signal}: draining`);
    service.close().then(
      () => process.exit(0),
      (err: Error) => {
        logLine('error', name, `shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
