import { EnvReader, loadGrpcTls } from '@winnow/config';
import { bearer, createClient, type ServiceClient } from '@winnow/grpc';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { localServiceKey } from './service-key';

export interface Connection {
  /** --stats: the stats service's gRPC address; default WINNOW_STATS_ADDR or 127.0.0.1:50062. */
  stats?: string | undefined;
  /** --key: an API key; default WINNOW_API_KEY, then the service key (WINNOW_SERVICE_KEY or the local one). */
  key?: string | undefined;
  deadlineMs: number;
  /**
   * Which key to use without --key: 'api' (WINNOW_API_KEY, then the service key) for calls a tenant
   * key may make; 'service' (the service key only) for calls only the service key may make, so a
   * tenant key kept in WINNOW_API_KEY for everyday reading does not turn them away.
   */
  defaultKey?: 'api' | 'service';
}

/** The key a command calls with. */
export function commandKey(key: string | undefined, defaultKey: 'api' | 'service' = 'api'): string {
  // `--key "$TENANT_KEY"` with the variable unset must not fall through to the service key, which
  // may do anything to every tenant: a --key given empty is refused. An empty variable is an unset one.
  if (key !== undefined && key.trim() === '') throw new Error('--key is empty: give an API key (is the variable you meant to pass set?), or leave --key out to use WINNOW_API_KEY or the service key');
  return key || (defaultKey === 'api' ? process.env['WINNOW_API_KEY'] : undefined) || localServiceKey(process.env['WINNOW_DATA_DIR'] || '.winnow-data', false);
}

/**
 * A client of one of the stats process's services for a command, over TLS or mTLS when
 * WINNOW_GRPC_TLS says so (the same variables as the services; docs/privacy.md).
 */
export function connect<T extends GenServiceMethods>(service: GenService<T>, c: Connection): ServiceClient<T> {
  const env = process.env;
  const address = c.stats ?? new EnvReader(env).address('WINNOW_STATS_ADDR', '127.0.0.1:50062');
  return createClient(service, address, { defaultDeadlineMs: c.deadlineMs, metadata: bearer(commandKey(c.key, c.defaultKey)), tls: loadGrpcTls(env) });
}
