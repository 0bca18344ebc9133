import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ClientOf } from '@winnow/grpc';
import type { ConfigService } from '@winnow/proto';
import { keyringOf, trackingDomainProblem, type Keyring } from '@winnow/tokens';
import type { CollectorConfig } from '@winnow/config';
import { CollectorMetrics } from './collector.metrics';
import { COLLECTOR_CONFIG, CONFIG_CLIENT } from './tokens';

export interface TenantDomain {
  tenant: string;
  keyring: Keyring;
}

/**
 * Tracking hostnames and their tenants' keys, read from the configuration service and refreshed
 * in the background, so domains and keys change without a restart. When the configuration service
 * is unreachable the last good set stays in use.
 */
@Injectable()
export class DomainRegistry implements OnApplicationShutdown {
  private readonly log = new Logger('DomainRegistry');
  private byHost = new Map<string, TenantDomain>();
  private version = '';
  private timer?: NodeJS.Timeout;
  loaded = false;

  constructor(
    @Inject(CONFIG_CLIENT) private readonly client: ClientOf<typeof ConfigService>,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly metrics: CollectorMetrics,
  ) {}

  /** The tenant a Host header belongs to (port and case ignored), or undefined. */
  resolve(hostHeader: string | undefined): TenantDomain | undefined {
    if (!hostHeader) return undefined;
    let host = hostHeader.toLowerCase();
    const colon = host.lastIndexOf(':');
    if (colon !== -1 && !host.endsWith(']')) host = host.slice(0, colon);
    return this.byHost.get(host);
  }

  async refresh(): Promise<void> {
    try {
      const res = await this.client.listTrackingDomains({}, { deadlineMs: 3000 });
      this.loaded = true;
      if (res.version === this.version) return;
      const next = new Map<string, TenantDomain>();
      for (const d of res.domains) {
        const problem = trackingDomainProblem(d);
        if (problem) {
          this.log.warn({ msg: 'skipping invalid tracking domain', hostname: d.hostname, problem });
          continue;
        }
        next.set(d.hostname, { tenant: d.tenant, keyring: keyringOf(d) });
      }
      this.byHost = next;
      this.version = res.version;
      this.metrics.domains.set(next.size);
      this.log.log({ msg: 'tracking domains loaded', count: next.size, version: res.version });
    } catch (err) {
      this.metrics.domainRefreshFailures.inc();
      this.log.warn({ msg: 'could not refresh tracking domains; keeping the last good set', err: (err as Error).message });
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh(), this.config.domainRefreshMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
