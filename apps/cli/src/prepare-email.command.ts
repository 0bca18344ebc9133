import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeClient } from '@winnow/grpc';
import { connect } from './connect';
import { ConfigService } from '@winnow/proto';

export const PREPARE_USAGE = `usage: winnow prepare-email --tenant T --campaign C --message M --host HOST [options] [FILE]

Rewrites an HTML email (FILE, or standard input) for the tenant's tracking domain HOST: a sealed
link for every http(s) link, a hidden trap link and the open pixel. The stats service seals the
links (this command never holds a signing key), records the delivery, and the HTML is written to
standard output.

  --message M            an opaque id of this recipient's copy (never the address)
  --base-url URL         tracking origin (default https://HOST)
  --recipient-domain D   the recipient's mail domain, optional
  --stats ADDR           stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
  --key KEY              a tenant API key with the prepare scope (default WINNOW_API_KEY, then
                         the service key: WINNOW_SERVICE_KEY, or the file npm start wrote in
                         WINNOW_DATA_DIR, default .winnow-data)
  --out FILE             write the HTML here instead of standard output
  --no-report            do not record the delivery
`;

/** `winnow prepare-email`: see PREPARE_USAGE. */
export async function prepareEmailCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
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
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(PREPARE_USAGE);
    return;
  }
  for (const required of ['tenant', 'campaign', 'message', 'host'] as const) {
    if (!values[required]) throw new Error(`--${required} is required\n\n${PREPARE_USAGE}`);
  }
  const tenant = values.tenant!;
  const host = values.host!.toLowerCase();
  const html = readFileSync(positionals[0] && positionals[0] !== '-' ? positionals[0] : 0, 'utf8');
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
    if (values.out) writeFileSync(values.out, prepared.html);
    else process.stdout.write(prepared.html);
    process.stderr.write(
      `prepared ${values.message}: ${prepared.trackedLinks} tracked links, 1 trap link, 1 pixel; ${prepared.deliveryRecorded ? 'delivery recorded' : 'delivery not recorded'}\n`,
    );
  } finally {
    closeClient(config);
  }
}
