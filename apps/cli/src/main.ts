#!/usr/bin/env node
import { classifyCommand } from './classify.command';
import { deadLettersCommand } from './dead-letters.command';
import { eraseCommand } from './erase.command';
import { demo } from './demo';
import { prepareEmailCommand } from './prepare-email.command';
import { reclassifyCommand } from './reclassify.command';
import { serveCommand } from './serve.command';
import { start } from './start';
import { UsageError } from './args';
import { reportCommand, domainsCommand, eventsCommand, keysCommand, linksCommand, policyCommand, statsCommand, timelineCommand } from './api.commands';
import { explain } from './output';

const USAGE = `usage: winnow <command>

commands:
  start   run collector, classifier and stats on the embedded store (npm start)
  serve SERVICE   run one service (collector, classifier, stats or operator) from the environment, as the image does
  demo    send a demo campaign's traffic through a fresh stack and print its statistics (npm run demo)
  prepare-email   rewrite an HTML email for a tracking domain and record its delivery (--help)
  classify FILE   print a verdict for every line of a trace (JSON lines, shared trace format)
  reclassify --tenant T   classify a tenant's stored events again under the running rule set (--help)
  erase --tenant T (--message M | --campaign C | --whole-tenant)   erase per-recipient records, leaving a tombstone (--help)
  dead-letters list|replay|discard   events the statistics service could not take for good: replaying them after a fix, or deleting them (--help)

reading the numbers (a tenant key or the service key; tables, or --json; each takes --help):
  stats CAMPAIGN --tenant T       opens, clicks, unique counts and rates, under the tenant's policy or another
  links CAMPAIGN --tenant T       clicks and unique clickers per link, the unsubscribe link apart
  timeline MESSAGE --tenant T     one recipient's events with verdicts and the evidence behind them
  events --tenant T               stored events as JSON lines or CSV, streamed
  keys create|list|revoke         a tenant's API keys, with scopes and expiry
  domains list|add|rotate         tracking domains and their signing keys (outside Kubernetes)
  policy get|set|preview          the tenant's suppression policy, and a preview before setting it
  report CAMPAIGN --tenant T --out FILE   a campaign report as one self-contained HTML file
`;

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  start,
  demo,
  'prepare-email': prepareEmailCommand,
  classify: classifyCommand,
  serve: serveCommand,
  'dead-letters': deadLettersCommand,
  reclassify: reclassifyCommand,
  erase: eraseCommand,
  stats: statsCommand,
  links: linksCommand,
  timeline: timelineCommand,
  events: eventsCommand,
  keys: keysCommand,
  domains: domainsCommand,
  policy: policyCommand,
  report: reportCommand,
};

// `winnow events | head`: the reader leaving is not an error; stop quietly, as other tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const name = process.argv[2] ?? '';
if (name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
const command = commands[name];
if (!command) {
  process.stderr.write(name ? `unknown command ${JSON.stringify(name)}\n\n${USAGE}` : USAGE);
  process.exit(2);
}
command(process.argv.slice(3)).catch((err: Error) => {
  process.stderr.write(`winnow ${name}: ${explain(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
