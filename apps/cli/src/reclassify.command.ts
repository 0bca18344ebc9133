import { closeClient, isRetryable } from '@winnow/grpc';
import { ReclassificationState, StatsService, type Reclassification } from '@winnow/proto';
import { sourceName } from '@winnow/engagement';
import { UsageError, parseCommandLine } from './args';
import { connect } from './connect';

export const RECLASSIFY_USAGE = `usage: winnow reclassify --tenant T [--no-wait] [--json]

Classifies the tenant's stored events again under the rule set the statistics service runs (after an
upgrade that changed the rules). Changed verdicts are stored as revisions and the counters follow.
The job runs in the statistics service, checkpoints as it goes and resumes after a restart (running
this again resumes it too); this command starts it, shows progress, and prints how many verdicts
changed, from which source to which. Events past retention are gone: their counters stay as counted.

options:
  --no-wait      start it and return
  --json         one JSON object at the end instead of a table
  --stats ADDR   stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
  --key KEY      the service key (default WINNOW_SERVICE_KEY, or the file npm start wrote in
                 WINNOW_DATA_DIR, default .winnow-data; WINNOW_API_KEY is not used: a tenant key
                 cannot start this job)
`;

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

export async function reclassifyCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(argv, { tenant: { type: 'string' }, 'no-wait': { type: 'boolean' }, json: { type: 'boolean' }, stats: { type: 'string' }, key: { type: 'string' } }, RECLASSIFY_USAGE, 0);
  if (!args) return;
  const values = args.values as { tenant?: string; 'no-wait'?: boolean; json?: boolean; stats?: string; key?: string };
  if (!values.tenant) throw new UsageError(`--tenant is required\n\n${RECLASSIFY_USAGE}`);
  const tenant = values.tenant;
  const stats = connect(StatsService, { stats: values.stats, key: values.key, defaultKey: 'service', deadlineMs: 10_000 });
  const tty = process.stderr.isTTY === true;
  try {
    let job: Reclassification | undefined = (await stats.startReclassification({ tenant })).job;
    if (values['no-wait']) {
      process.stdout.write(`reclassification of ${tenant} under ${job?.rulesetVersion} started (${job?.total} events)\n`);
      return;
    }
    let unreachableSince = 0;
    while (job?.state !== ReclassificationState.DONE) {
      await sleep(tty ? 250 : 1000);
      try {
        job = (await stats.getReclassification({ tenant })).job;
        unreachableSince = 0;
      } catch (err) {
        // A restarted statistics service resumes the job itself: keep asking for a while.
        if (!isRetryable(err)) throw err;
        unreachableSince ||= Date.now();
        if (Date.now() - unreachableSince > 120_000) throw new Error(`the statistics service has not answered for 2 minutes; the job resumes when it is back: run this again`, { cause: err });
        continue;
      }
      if (tty && job) process.stderr.write(`\r${job.scanned} of ${job.total} events`);
    }
    if (tty) process.stderr.write('\n');
    const changes = job.changed.map((c) => ({ from: sourceName(c.from), to: sourceName(c.to), count: Number(c.count) })).sort((a, b) => b.count - a.count);
    const total = changes.reduce((n, c) => n + c.count, 0);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ tenant, rulesetVersion: job.rulesetVersion, scanned: Number(job.scanned), changed: total, changes })}\n`);
      return;
    }
    process.stdout.write(`reclassified ${job.scanned} events of ${tenant} under rule set ${job.rulesetVersion}: ${total} verdicts changed\n`);
    if (changes.length > 0) {
      const rows = [['FROM', 'TO', 'EVENTS'], ...changes.map((c) => [c.from, c.to, String(c.count)])];
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) process.stdout.write(`${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padStart(w[2]!)}\n`);
    }
  } finally {
    closeClient(stats);
  }
}
