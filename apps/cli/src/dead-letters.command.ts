import { closeClient } from '@winnow/grpc';
import { StatsService, type DeadLetter } from '@winnow/proto';
import { UsageError, parseCommandLine } from './args';
import { connect } from './connect';

export const DEAD_LETTERS_USAGE = `usage: winnow dead-letters list [--tenant T] [--json]
       winnow dead-letters replay --tenant T [ID ...]
       winnow dead-letters discard --tenant T ID ...

Events the statistics service could not take for good (refused by the store, or invalid) are kept
as dead letters with the reason. list prints them (every tenant's without --tenant); replay ingests
a tenant's dead letters again after a fix (all of them, or the IDs given): those stored leave the
list, those failing again stay with the new reason. discard deletes the IDs given, for good (events
that will never be taken); --tenant '' names the dead letters whose event names no tenant.

options:
  --stats ADDR   stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
  --key KEY      list --tenant T: a tenant API key with the read scope, or the service key
                 (default WINNOW_API_KEY, then the service key); list of every tenant, and
                 replay and discard: the service key (default
                 WINNOW_SERVICE_KEY, or the file npm start wrote in WINNOW_DATA_DIR, default
                 .winnow-data; WINNOW_API_KEY is not used, as a tenant key cannot replay)
  --json         JSON instead of text
`;

const when = (ms: string) => new Date(Number(ms)).toISOString();

export async function deadLettersCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(argv, { tenant: { type: 'string' }, json: { type: 'boolean' }, stats: { type: 'string' }, key: { type: 'string' } }, DEAD_LETTERS_USAGE);
  if (!args) return;
  const values = args.values as { tenant?: string; json?: boolean; stats?: string; key?: string };
  const [action, ...ids] = args.positionals;
  if (action !== 'list' && action !== 'replay' && action !== 'discard') throw new UsageError(`${action ? `unknown action ${JSON.stringify(action)}` : 'name an action'}: list, replay or discard\n\n${DEAD_LETTERS_USAGE}`);
  if (action === 'list' && ids.length > 0) throw new UsageError(`list takes no IDs\n\n${DEAD_LETTERS_USAGE}`);
  if (action === 'replay' && !values.tenant) throw new UsageError(`replay needs --tenant (the tenant whose dead letters to ingest again)\n\n${DEAD_LETTERS_USAGE}`);
  // Discarding deletes for good: the tenant must be said (even when it is the empty one) and every ID named.
  if (action === 'discard' && values.tenant === undefined) throw new UsageError(`discard needs --tenant (the tenant the dead letters are listed under; --tenant '' for those with none)\n\n${DEAD_LETTERS_USAGE}`);
  if (action === 'discard' && ids.length === 0) throw new UsageError(`discard needs the IDs of the dead letters to delete (winnow dead-letters list shows them)\n\n${DEAD_LETTERS_USAGE}`);
  const stats = connect(StatsService, { stats: values.stats, key: values.key, defaultKey: action !== 'list' || !values.tenant ? 'service' : 'api', deadlineMs: 30_000 });
  try {
    if (action === 'discard') {
      const r = await stats.discardDeadLetters({ tenant: values.tenant!, ids });
      process.stdout.write(values.json ? `${JSON.stringify({ discarded: Number(r.discarded) })}\n` : `discarded ${r.discarded} of ${ids.length}\n`);
      return;
    }
    if (action === 'replay') {
      const r = await stats.replayDeadLetters({ tenant: values.tenant!, ids });
      process.stdout.write(
        values.json
          ? `${JSON.stringify({ replayed: Number(r.replayed), stored: Number(r.stored), deadLettered: Number(r.deadLettered) })}\n`
          : `replayed ${r.replayed}: ${r.stored} stored, ${r.deadLettered} failed again (still dead letters)\n`,
      );
      return;
    }
    let token = '';
    let n = 0;
    const rows: DeadLetter[] = [];
    do {
      const page = await stats.listDeadLetters({ tenant: values.tenant ?? '', pageSize: 500, pageToken: token });
      for (const l of page.deadLetters) {
        n++;
        if (values.json) process.stdout.write(`${JSON.stringify({ id: l.id, tenant: l.tenant, eventId: l.eventId, failure: l.failure, reason: l.reason, deadAt: when(l.deadAtUnixMs) })}\n`);
        else rows.push(l);
      }
      token = page.nextPageToken;
    } while (token);
    if (values.json) return;
    if (n === 0) {
      process.stdout.write('no dead letters\n');
      return;
    }
    const table = [['ID', 'TENANT', 'EVENT', 'FAILURE', 'SINCE', 'REASON'], ...rows.map((l) => [l.id, l.tenant, l.eventId.slice(0, 40), l.failure, when(l.deadAtUnixMs), l.reason])];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
    for (const r of table) process.stdout.write(`${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}\n`);
  } finally {
    closeClient(stats);
  }
}
