#!/usr/bin/env node
import { classifyCommand } from './classify.command';
import { deadLettersCommand } from './dead-letters.command';
import { eraseCommand } from './erase.command';
import { demo } from './demo';
import { prepareEmailCommand } from './prepare-email.command';
import { reclassifyCommand } from './reclassify.command';
import { serveCommand } from './serve.command';
import { start } from './start';

const USAGE = `usage: winnow <command>

commands:
  start   run collector, classifier and stats on the embedded store (npm start)
  serve SERVICE   run one service (collector, classifier, stats or operator) from the environment, as the image does
  demo    send a demo campaign's traffic through a fresh stack and print its statistics (npm run demo)
  prepare-email   rewrite an HTML email for a tracking domain and record its delivery (--help)
  classify FILE   print a verdict for every line of a trace (JSON lines, shared trace format)
  reclassify --tenant T   classify a tenant's stored events again under the running rule set (--help)
  erase --tenant T (--message M | --campaign C | --whole-tenant)   erase per-recipient records, leaving a tombstone (--help)
  dead-letters list|replay   events the statistics service could not take for good, and replaying them after a fix (--help)
`;

const commands: Record<string, (argv: string[]) => Promise<void>> = { start, demo, 'prepare-email': prepareEmailCommand, classify: classifyCommand, serve: serveCommand, 'dead-letters': deadLettersCommand, reclassify: reclassifyCommand, erase: eraseCommand };

const name = process.argv[2] ?? '';
const command = commands[name];
if (!command) {
  process.stderr.write(name ? `unknown command ${JSON.stringify(name)}\n\n${USAGE}` : USAGE);
  process.exit(2);
}
command(process.argv.slice(3)).catch((err: Error) => {
  process.stderr.write(`winnow ${name}: ${err.message}\n`);
  process.exit(1);
});
