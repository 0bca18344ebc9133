import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeClient } from '@winnow/grpc';
import { connect } from './connect';
import { prepareEmail } from '@winnow/mail';
import { ConfigService, StatsService } from '@winnow/proto';
import { keyringOf } from '@winnow/tokens';

export const PREPARE_USAGE = `usage: winnow prepare-email --tenant T --campaign C --message M --host HOST [options] [FILE]

Rewrites an HTML email (FILE, or standard input) for the tenant's tracking domain HOST: a sealed
link for every http(s) link, a hidden trap link and the open pixel. Writes the HTML to standard
output and records the delivery with the stats service.

  --message M            an opaque id of this recipient's copy (never the address)
  --base-url URL         tracking origin (default https://HOST)
  --recipient-domain D   the recipient's mail domain, optional
  --stats ADDR           stats gRPC address (default WINNOW_STATS_ADDR or 127.0.0.1:50062)
                         the service key comes from WINNOW_SERVICE_KEY, or the file npm start
                         wrote in WINNOW_DATA_DIR (default .winnow-data)
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
  const config = connect(ConfigService, { stats: values.stats, deadlineMs: 5000 });
  const stats = connect(StatsService, { stats: values.stats, deadlineMs: 5000 });
  try {
    const domain = (await config.listTrackingDomains({})).domains.find((d) => d.hostname === host && d.tenant === tenant);
    if (!domain) throw new Error(`no tracking domain ${host} is registered for tenant ${tenant}`);
    const sentAtS = Math.floor(Date.now() / 1000);
    const prepared = prepareEmail(html, {
      keyring: keyringOf(domain),
      baseUrl: values['base-url'] ?? `https://${host}`,
      tenant,
      campaign: values.campaign!,
      message: values.message!,
      sentAtS,
      ...(values['recipient-domain'] ? { recipientDomain: values['recipient-domain'] } : {}),
    });
    if (!values['no-report']) {
      await stats.recordDeliveries({
        deliveries: [{ tenant, campaign: values.campaign!, message: values.message!, deliveredAtUnixMs: String(sentAtS * 1000), links: prepared.links.length }],
      });
    }
    if (values.out) writeFileSync(values.out, prepared.html);
    else process.stdout.write(prepared.html);
    process.stderr.write(
      `prepared ${values.message}: ${prepared.links.length - 1} tracked links, 1 trap link, 1 pixel; ${values['no-report'] ? 'delivery not recorded' : 'delivery recorded'}\n`,
    );
  } finally {
    closeClient(config);
    closeClient(stats);
  }
}
