import { resolve } from 'node:path';
import { configuredPorts, launchStack } from './launcher';
import { keyFile, localServiceKey } from './service-key';
import { parseCommandLine } from './args';

export const START_USAGE = `usage: winnow start

Runs the collector, the classifier and the statistics service on the embedded store, with the demo
tenant "demo-clinic", and streams their logs as JSON lines. Ctrl-C stops all three. The ports, the
data directory and everything else come from the WINNOW_* variables (docs/architecture.md).
`;

/**
 * `npm start`: the whole stack on the embedded store, with the demo tenant, on the ports the
 * WINNOW_* variables name (defaults in docs/architecture.md). Service logs stream to stdout as JSON lines.
 */
export async function start(argv: string[] = []): Promise<void> {
  if (!parseCommandLine(argv, {}, START_USAGE, 0)) return;
  const dataDir = resolve(process.env['WINNOW_DATA_DIR'] ?? '.winnow-data');
  const ports = configuredPorts({ WINNOW_SERVICE_KEY: 'x'.repeat(32), ...process.env });
  const serviceKey = localServiceKey(dataDir, true);
  const stack = await launchStack({ ports, dataDir, env: { WINNOW_SERVICE_KEY: serviceKey }, onLog: (_name, line) => process.stdout.write(`${line}\n`) });
  const lines = [
    '',
    'Winnow is running (embedded store, demo tenant "demo-clinic"):',
    `  collector   http://127.0.0.1:${ports.collectorHttp}   tracking host demo-clinic.localhost   ops http://127.0.0.1:${ports.collectorOps}/metrics`,
    `  classifier  grpc 127.0.0.1:${ports.classifierGrpc}   ops http://127.0.0.1:${ports.classifierHttp}/metrics`,
    `  stats       grpc 127.0.0.1:${ports.statsGrpc}   ops http://127.0.0.1:${ports.statsHttp}/metrics`,
    `  data        ${dataDir}`,
    `  service key ${process.env['WINNOW_SERVICE_KEY'] ? 'from WINNOW_SERVICE_KEY' : `in ${keyFile(dataDir)} (gRPC metadata "authorization: Bearer <key>")`}`,
    'Ctrl-C stops all three.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void stack.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  const name = await stack.exited;
  if (!stopping) {
    process.stderr.write(`${name} exited; stopping the others\n`);
    await stack.stop();
    process.exit(1);
  }
}
