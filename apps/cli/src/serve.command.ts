import { join } from 'node:path';
import { UsageError, parseCommandLine } from './args';

/** The services one image runs, by the word `winnow serve` takes. */
export const SERVABLE = ['collector', 'classifier', 'stats', 'operator'] as const;

/**
 * `winnow serve collector|classifier|stats|operator`: runs one service in this process, configured
 * from the environment as its own entry point is (what the container image starts). The service's
 * code is loaded by path: the command line does not depend on the services' packages.
 */
export const SERVE_USAGE = `usage: winnow serve collector|classifier|stats|operator

Runs one service in this process, configured from the environment (the WINNOW_* variables of
docs/architecture.md), as the container image does.
`;

export async function serveCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(argv, {}, SERVE_USAGE, 1);
  if (!args) return;
  const name = args.positionals[0] ?? '';
  if (!(SERVABLE as readonly string[]).includes(name)) {
    throw new UsageError(`serve needs one of ${SERVABLE.join(', ')}${name ? `, not ${JSON.stringify(name)}` : ''} (for example: winnow serve collector)`);
  }
  require(join(__dirname, '..', '..', name, 'dist', 'main.js'));
}
