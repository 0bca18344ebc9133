import { Inject, Injectable, Logger } from '@nestjs/common';
import type { DescMethod } from '@bufbuild/protobuf';
import { ErrorCode, WinnowError, presentedKey, serviceKeyMatcher, type CallContext, type ServiceHooks } from '@winnow/grpc';
import type { StatsConfig } from '@winnow/config';
import { parseApiKey, secretMatches } from '@winnow/tokens';
import { tenantProblem, type EventStore } from '@winnow/storage';
import { ApiKeyScope, type StoredApiKey } from '@winnow/proto';
import { EVENT_STORE, STATS_CONFIG } from './tokens';
import { limitField } from './store-errors';

/** Who is calling: a tenant's key, or the service key (all tenants, every scope). */
export interface Principal {
  keyId: string;
  /** '*' for the service key. */
  tenant: string;
  scopes: ReadonlySet<ApiKeyScope>;
  /** When the key stops working, ms since the epoch; 0 = never (the service key, keys without expiry). */
  expiresAtMs: number;
}

const { READ, WRITE, PREPARE, ADMIN } = ApiKeyScope;
export const ALL_SCOPES: readonly ApiKeyScope[] = [READ, WRITE, PREPARE, ADMIN];
/** What a key issued before scopes existed holds. */
export const LEGACY_SCOPES: readonly ApiKeyScope[] = [READ, WRITE];

export const scopeName = (s: ApiKeyScope): string => (ApiKeyScope[s] ?? String(s)).toLowerCase();

/**
 * The scope a tenant key needs for each call; 'service' calls take the service key only. A call
 * missing here is refused to every tenant key (a test keeps the table and the protos equal).
 * Handlers still check the tenants a call names, and the few calls whose need depends on the request
 * (erasing a whole tenant, listing every tenant's dead letters) narrow it further.
 */
export const CALL_NEEDS: Readonly<Record<string, ApiKeyScope | 'service'>> = {
  'StatsService.RecordDeliveries': WRITE,
  'StatsService.RecordEvents': WRITE,
  'StatsService.IngestEvents': 'service',
  'StatsService.ListDeadLetters': READ,
  'StatsService.ReplayDeadLetters': 'service',
  'StatsService.DiscardDeadLetters': 'service',
  'StatsService.StartReclassification': 'service',
  'StatsService.GetReclassification': READ,
  'StatsService.Erase': ADMIN,
  'StatsService.GetCampaignStats': READ,
  'StatsService.GetMessageTimeline': READ,
  'StatsService.ListEvents': READ,
  'StatsService.GetTimeSeries': READ,
  'StatsService.GetLinkStats': READ,
  'ConfigService.PutTrackingDomain': 'service',
  'ConfigService.DeleteTrackingDomain': 'service',
  'ConfigService.ListTrackingDomains': 'service',
  'ConfigService.PutSuppressionPolicy': ADMIN,
  'ConfigService.GetSuppressionPolicy': READ,
  'ConfigService.CreateApiKey': ADMIN,
  'ConfigService.RevokeApiKey': ADMIN,
  'ConfigService.ListApiKeys': ADMIN,
  'ConfigService.PrepareEmail': PREPARE,
};

/** The scopes a stored key holds: its own, or read and write for a key older than scopes. */
export function scopesOf(key: StoredApiKey): ApiKeyScope[] {
  const own = key.info?.scopes ?? [];
  return own.length > 0 ? [...own] : [...LEGACY_SCOPES];
}

const PRINCIPAL = 'principal';
const TENANTS = 'tenants';
const CACHE_MS = 5_000;

export function principalOf(ctx: CallContext): Principal {
  const p = ctx.locals[PRINCIPAL] as Principal | undefined;
  if (!p) throw new WinnowError(ErrorCode.Unauthenticated, 'no credentials');
  return p;
}

/** Refuses unless the caller may act for every tenant named; records them for the audit line. */
export function requireTenants(ctx: CallContext, tenants: Iterable<string>): void {
  const p = principalOf(ctx);
  const seen = new Set<string>();
  for (const t of tenants) {
    limitField(t, 'tenant');
    // Empty, or holding a NUL.
    const problem = tenantProblem(t);
    if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
    if (p.tenant !== '*' && p.tenant !== t) throw new WinnowError(ErrorCode.PermissionDenied, `this key may not act for tenant ${t}`);
    seen.add(t);
  }
  ctx.locals[TENANTS] = [...seen];
}

export function requireService(ctx: CallContext): void {
  if (principalOf(ctx).tenant !== '*') throw new WinnowError(ErrorCode.PermissionDenied, 'this call needs the service key');
  ctx.locals[TENANTS] = ['*'];
}

/**
 * Authenticates every gRPC call from `authorization: Bearer <key>` metadata (tenant keys are looked
 * up by id and checked against their stored SHA-256 in constant time; the service key comes from
 * WINNOW_SERVICE_KEY), and writes one audit line per call: method, key id, tenants, outcome.
 */
@Injectable()
export class Authenticator {
  private readonly log = new Logger('Audit');
  private readonly isServiceKey: (presented: string) => boolean;
  private readonly cache = new Map<string, { key: StoredApiKey | undefined; at: number }>();

  constructor(
    @Inject(STATS_CONFIG) config: StatsConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {
    this.isServiceKey = serviceKeyMatcher(config.serviceKey);
  }

  /** A revoked key stops working at once in this process (and within CACHE_MS in others). */
  forget(keyId: string): void {
    this.cache.delete(keyId);
  }

  private async lookup(keyId: string): Promise<StoredApiKey | undefined> {
    const hit = this.cache.get(keyId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.key;
    const key = await this.store.getApiKey(keyId);
    this.cache.set(keyId, { key, at: Date.now() });
    if (this.cache.size > 10_000) this.cache.clear();
    return key;
  }

  async authenticate(ctx: CallContext): Promise<void> {
    const presented = presentedKey(ctx);
    if (!presented) {
      // Present but not in the form `Bearer <key>` (another scheme, no scheme, a space after the key).
      if (ctx.header('authorization')) throw new WinnowError(ErrorCode.Unauthenticated, 'the "authorization" metadata is not "Bearer <api key>" (one space, the key, nothing after it)');
      throw new WinnowError(ErrorCode.Unauthenticated, 'missing "authorization: Bearer <api key>" metadata');
    }
    if (this.isServiceKey(presented)) {
      ctx.locals[PRINCIPAL] = { keyId: 'service', tenant: '*', scopes: new Set(ALL_SCOPES), expiresAtMs: 0 } satisfies Principal;
      return;
    }
    const parsed = parseApiKey(presented);
    const stored = parsed ? await this.lookup(parsed.keyId) : undefined;
    if (!parsed || !stored || !secretMatches(parsed.secret, stored.secretSha256)) {
      throw new WinnowError(ErrorCode.Unauthenticated, 'unknown or revoked API key');
    }
    const expires = Number(stored.info!.expiresAtUnixMs || 0);
    if (expires > 0 && expires <= Date.now()) {
      throw new WinnowError(ErrorCode.Unauthenticated, `API key ${parsed.keyId} expired at ${new Date(expires).toISOString()}; ask for a new one`);
    }
    const principal: Principal = { keyId: parsed.keyId, tenant: stored.info!.tenant, scopes: new Set(scopesOf(stored)), expiresAtMs: expires };
    ctx.locals[PRINCIPAL] = principal;
    const call = `${ctx.method.parent.name}.${ctx.method.name}`;
    const need = CALL_NEEDS[call];
    if (need === undefined || need === 'service') throw new WinnowError(ErrorCode.PermissionDenied, `${call} needs the service key`);
    if (!principal.scopes.has(need)) {
      throw new WinnowError(ErrorCode.PermissionDenied, `${call} needs the ${scopeName(need)} scope; this key holds ${[...principal.scopes].map(scopeName).join(', ')}`);
    }
  }

  hooks(): ServiceHooks {
    return {
      before: (ctx) => this.authenticate(ctx),
      after: (method: DescMethod, code, seconds, ctx) => {
        const p = ctx.locals[PRINCIPAL] as Principal | undefined;
        this.log.log({
          audit: true,
          method: `${method.parent.name}.${method.name}`,
          key: p?.keyId ?? 'none',
          tenants: (ctx.locals[TENANTS] as string[] | undefined) ?? [],
          outcome: code,
          ms: Math.round(seconds * 1000),
          peer: ctx.peer,
        });
      },
    };
  }
}
