import { closeClient } from '@winnow/grpc';
import { StatsService } from '@winnow/proto';
import { UsageError, parseCommandLine } from './args';
import { connect } from './connect';

export const ERASE_USAGE = `usage: winnow erase --tenant T (--message M | --campaign C | --whole-tenant) [--json]

Erases every per-recipient record of one message, of every message of a campaign, or of a whole
tenant: raw events, per-message engagement, dead letters. A message's or campaign's counters stay, as
anonymous aggregates; a whole tenant's go too. Later events of what was erased are not stored (a
tombstone keeps a hash of the name, not the name). The call is audited. Cannot be undone.

options:
  --key KEY      a tenant API key with the admin scope, or the service key (default
                 WINNOW_API_KEY, then the service key: WINNOW_SERVICE_KEY or the file npm start wrote
                 in WINNOW_DATA_DIR); a whole tenant needs the service key
  --stats ADDR   stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
`;

export async function eraseCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(
    argv,
    { tenant: { type: 'string' }, message: { type: 'string' }, campaign: { type: 'string' }, 'whole-tenant': { type: 'boolean' }, json: { type: 'boolean' }, key: { type: 'string' }, stats: { type: 'string' } },
    ERASE_USAGE,
    0,
  );
  if (!args) return;
  const values = args.values as { tenant?: string; message?: string; campaign?: string; 'whole-tenant'?: boolean; json?: boolean; key?: string; stats?: string };
  const scopes = [values.message !== undefined, values.campaign !== undefined, values['whole-tenant'] === true].filter(Boolean).length;
  if (!values.tenant) throw new UsageError(`--tenant is required\n\n${ERASE_USAGE}`);
  if (scopes !== 1) throw new UsageError(`name exactly one of --message, --campaign, --whole-tenant\n\n${ERASE_USAGE}`);
  const stats = connect(StatsService, { stats: values.stats, key: values.key, deadlineMs: 120_000 });
  try {
    const r = await stats.erase({ tenant: values.tenant, message: values.message ?? '', campaign: values.campaign ?? '', wholeTenant: values['whole-tenant'] === true });
    const what = values.message !== undefined ? 'message' : values.campaign !== undefined ? 'campaign' : 'tenant';
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ erased: what, events: Number(r.events), messages: Number(r.messages), deadLetters: Number(r.deadLetters) })}\n`
        : `erased the ${what}: ${r.events} events, ${r.messages} message records, ${r.deadLetters} dead letters\n`,
    );
  } finally {
    closeClient(stats);
  }
}
