import { closeSync, readFileSync, writeSync } from 'node:fs';
import { closeClient } from '@winnow/grpc';
import { UsageError, parseCommandLine } from './args';
import { connect } from './connect';
import { replaceWhenWhole } from './replace-file';
import { ConfigService } from '@winnow/proto';

export const PREPARE_USAGE = `usage: winnow prepare-email --tenant T --campaign C --message M --host HOST [options] [FILE]

Rewrites an HTML email (FILE, or standard input) for the tenant's tracking domain HOST: a sealed
link for every http(s) link, a hidden trap link and the open pixel. The stats service seals the
links (this command never holds a signing key), records the delivery, and the HTML is written to
standard output. A link whose target is too long to seal (about 2,900 characters or more) is left
as it was, and said so on standard error.

  --message M            an opaque id of this recipient's copy (never the address)
  --base-url URL         tracking origin (default https://HOST)
  --recipient-domain D   the recipient's mail domain, optional
  --stats ADDR           stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
  --key KEY              a tenant API key with the prepare scope (default WINNOW_API_KEY, then
                         the service key: WINNOW_SERVICE_KEY, or the file npm start wrote in
                         WINNOW_DATA_DIR, default .winnow-data)
  --out FILE             write the HTML here instead of standard output (checked before the
                         delivery is recorded; the file is replaced only once it is whole)
  --no-report            do not record the delivery
`;

/** `winnow prepare-email`: see PREPARE_USAGE. */
export async function prepareEmailCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(
    argv,
    {
      tenant: { type: 'string' },
      campaign: { type: 'string' },
      message: { type: 'string' },
      host: { type: 'string' },
      'base-url': { type: 'string' },
      'recipient-domain': { type: 'string' },
      stats: { type: 'string' },
      key: { type: 'string' },
      out: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
    },
    PREPARE_USAGE,
  );
  if (!args) return;
  const positionals = args.positionals;
  const values = args.values as { tenant?: string; campaign?: string; message?: string; host?: string; 'base-url'?: string; 'recipient-domain'?: string; stats?: string; key?: string; out?: string; 'no-report'?: boolean };
  for (const required of ['tenant', 'campaign', 'message', 'host'] as const) {
    if (!values[required]) throw new UsageError(`--${required} is required\n\n${PREPARE_USAGE}`);
  }
  if (positionals.length > 1) throw new UsageError(`one FILE at most, got ${positionals.length}\n\n${PREPARE_USAGE}`);
  const tenant = values.tenant!;
  const host = values.host!.toLowerCase();
  const html = readFileSync(positionals[0] && positionals[0] !== '-' ? positionals[0] : 0, 'utf8');
  // The output is opened before the delivery is recorded: a path that cannot be written must not
  // leave a delivery on record for HTML nobody has.
  const file = values.out ? replaceWhenWhole(values.out, '; nothing was prepared or recorded') : undefined;
  let fd = file?.fd;
  const config = connect(ConfigService, { stats: values.stats, key: values.key, deadlineMs: 10_000 });
  try {
    const prepared = await config.prepareEmail({
      tenant,
      campaign: values.campaign!,
      message: values.message!,
      hostname: host,
      html,
      baseUrl: values['base-url'] ?? '',
      recipientDomain: values['recipient-domain'] ?? '',
      skipDelivery: values['no-report'] === true,
    });
    if (fd !== undefined) {
      writeSync(fd, prepared.html);
      closeSync(fd);
      fd = undefined;
      file!.commit();
    } else process.stdout.write(prepared.html);
    process.stderr.write(
      `prepared ${values.message}: ${prepared.trackedLinks} tracked links, 1 trap link, 1 pixel; ${prepared.deliveryRecorded ? 'delivery recorded' : 'delivery not recorded'}\n`,
    );
    if (prepared.untrackedLinks > 0) {
      process.stderr.write(`warning: ${prepared.untrackedLinks} link(s) left untracked: their target is too long to seal into a tracking link (about 2,900 characters or more); shorten them to track their clicks\n`);
    }
  } finally {
    closeClient(config);
    if (fd !== undefined) closeSync(fd);
    file?.discard();
  }
}
