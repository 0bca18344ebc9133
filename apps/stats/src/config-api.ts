import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { toBinary, create } from '@bufbuild/protobuf';
import { ErrorCode, WinnowError, type ImplOf } from '@winnow/grpc';
import { ApiKeyScope, DeliverySchema, ListTrackingDomainsResponseSchema, Source, StoredApiKeySchema, type ConfigService, type SuppressionPolicy } from '@winnow/proto';
import { AUTOMATED_SOURCES } from '@winnow/engagement';
import { tenantIdProblem, trackingDomainProblem } from '@winnow/tokens';
import type { EventStore } from '@winnow/storage';
import { EVENT_STORE } from './tokens';
import { Ingestor } from './ingest';
import { EmailPreparer } from './email-preparer';
import { limitField, storeCall } from './store-errors';
import { ALL_SCOPES, Authenticator, LEGACY_SCOPES, principalOf, requireService, requireTenants, scopeName } from './auth';
import { generateApiKey } from '@winnow/tokens';

function policyProblem(p: SuppressionPolicy): string | undefined {
  const tenant = tenantIdProblem(p.tenant);
  if (tenant) return tenant;
  for (const sel of [p.opens, p.clicks]) {
    for (const s of sel?.sources ?? []) {
      if (!AUTOMATED_SOURCES.includes(s)) return `${Source[s] ?? s} is not an automated source; people are never suppressed`;
    }
  }
  return undefined;
}

const MAX_HTML_BYTES = 4 * 1024 * 1024;
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

/** The scopes a new key gets: those asked for (read and write when none), each one known and held by the caller. */
function newKeyScopes(asked: readonly ApiKeyScope[], held: ReadonlySet<ApiKeyScope>): ApiKeyScope[] {
  const scopes = [...new Set(asked.length > 0 ? asked : LEGACY_SCOPES)].sort();
  for (const s of scopes) {
    if (!ALL_SCOPES.includes(s)) throw new WinnowError(ErrorCode.InvalidArgument, `scopes: ${s} is not a scope (read, write, prepare, admin)`);
    if (!held.has(s)) throw new WinnowError(ErrorCode.PermissionDenied, `a key may not issue the ${scopeName(s)} scope it does not hold itself`);
  }
  return scopes;
}

/** The ConfigService gRPC handlers: tracking domains with their keys, and suppression policy. */
@Injectable()
export class ConfigApi {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly auth: Authenticator,
    private readonly ingestor: Ingestor,
    private readonly preparer: EmailPreparer,
  ) {}

  /**
   * Domain registrations one at a time: the "registered to another tenant" check and the write must
   * not interleave, or two tenants registering one hostname at once were both told yes and the second
   * silently took it over. (One stats process writes the embedded store; on MongoDB with several
   * replicas the chance remains between replicas, docs/statistics.md.)
   */
  private domainWrites: Promise<unknown> = Promise.resolve();
  private oneDomainWriteAtATime<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.domainWrites.then(fn);
    this.domainWrites = run.catch(() => undefined);
    return run;
  }

  handlers(): ImplOf<typeof ConfigService> {
    const store = this.store;
    return {
      putTrackingDomain: async (req, ctx) => {
        requireService(ctx);
        const d = req.domain;
        if (!d) throw new WinnowError(ErrorCode.InvalidArgument, 'domain is required');
        limitField(d.hostname, 'domain.hostname');
        limitField(d.tenant, 'domain.tenant');
        for (const k of d.keys) limitField(k.id, 'domain.keys.id');
        const problem = trackingDomainProblem(d);
        if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
        return this.oneDomainWriteAtATime(async () => {
          const existing = (await storeCall(() => store.listDomains())).find((x) => x.hostname === d.hostname);
          if (existing && existing.tenant !== d.tenant) {
            throw new WinnowError(ErrorCode.AlreadyExists, `hostname ${d.hostname} is registered to another tenant`);
          }
          await storeCall(() => store.putDomain(d));
          return { domain: d };
        });
      },
      deleteTrackingDomain: async (req, ctx) => {
        requireService(ctx);
        limitField(req.hostname, 'hostname');
        limitField(req.tenant, 'tenant');
        return { deleted: await storeCall(() => store.deleteDomain(req.hostname, req.tenant)) };
      },
      listTrackingDomains: async (_req, ctx) => {
        // The answer holds signing keys: for the collector and the operator only.
        requireService(ctx);
        const domains = await storeCall(() => store.listDomains());
        const bytes = toBinary(ListTrackingDomainsResponseSchema, create(ListTrackingDomainsResponseSchema, { domains }));
        return { domains, version: createHash('sha256').update(bytes).digest('base64url').slice(0, 16) };
      },
      putSuppressionPolicy: async (req, ctx) => {
        const p = req.policy;
        if (!p) throw new WinnowError(ErrorCode.InvalidArgument, 'policy is required');
        requireTenants(ctx, [p.tenant]);
        const problem = policyProblem(p);
        if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
        await storeCall(() => store.putPolicy(p));
        return { policy: p };
      },
      getSuppressionPolicy: async (req, ctx) => {
        requireTenants(ctx, [req.tenant]);
        const p = await storeCall(() => store.getPolicy(req.tenant));
        return p ? { policy: p, explicit: true } : { policy: { tenant: req.tenant, opens: { allAutomated: true }, clicks: { allAutomated: true } }, explicit: false };
      },
      createApiKey: async (req, ctx) => {
        requireTenants(ctx, [req.tenant]);
        const tenant = tenantIdProblem(req.tenant);
        if (tenant) throw new WinnowError(ErrorCode.InvalidArgument, tenant);
        const scopes = newKeyScopes(req.scopes, principalOf(ctx).scopes);
        const now = Date.now();
        const expires = Number(req.expiresAtUnixMs || 0);
        if (expires !== 0 && (expires <= now || expires > now + TEN_YEARS_MS)) {
          throw new WinnowError(ErrorCode.InvalidArgument, `expires_at_unix_ms must be 0 (never) or a time within the next ten years, got ${req.expiresAtUnixMs}`);
        }
        // As with scopes, a key issues nothing it does not hold itself: a key that expires may not
        // issue one that outlives it (a time-limited key would otherwise make itself permanent).
        const own = principalOf(ctx).expiresAtMs;
        if (own > 0 && (expires === 0 || expires > own)) {
          throw new WinnowError(ErrorCode.PermissionDenied, `this key expires at ${new Date(own).toISOString()}; a key it issues must expire by then too (set expires_at_unix_ms)`);
        }
        const k = generateApiKey();
        const info = {
          keyId: k.keyId,
          tenant: req.tenant,
          description: req.description.slice(0, 200),
          createdAtUnixMs: String(now),
          scopes,
          expiresAtUnixMs: String(expires),
        };
        await storeCall(() => store.putApiKey(create(StoredApiKeySchema, { info, secretSha256: k.secretSha256 })));
        return { key: k.key, info };
      },
      revokeApiKey: async (req, ctx) => {
        limitField(req.keyId, 'key_id');
        const key = await storeCall(() => store.getApiKey(req.keyId));
        const who = principalOf(ctx);
        if (key && who.tenant !== '*') requireTenants(ctx, [key.info!.tenant]);
        else if (!key && who.tenant !== '*') throw new WinnowError(ErrorCode.NotFound, `no key ${req.keyId}`);
        const revoked = key ? await storeCall(() => store.deleteApiKey(req.keyId)) : false;
        this.auth.forget(req.keyId);
        return { revoked };
      },
      listApiKeys: async (req, ctx) => {
        requireTenants(ctx, [req.tenant]);
        const keys = (await storeCall(() => store.listApiKeys(req.tenant))).map((k) => k.info!);
        // Keys older than scopes hold read and write; say so rather than show none.
        return { keys: keys.map((k) => (k.scopes.length > 0 ? k : { ...k, scopes: [...LEGACY_SCOPES] })) };
      },
      prepareEmail: async (req, ctx) => {
        requireTenants(ctx, [req.tenant]);
        limitField(req.hostname, 'hostname');
        limitField(req.campaign, 'campaign');
        limitField(req.message, 'message');
        limitField(req.recipientDomain, 'recipient_domain');
        limitField(req.baseUrl, 'base_url');
        if (Buffer.byteLength(req.html) > MAX_HTML_BYTES) throw new WinnowError(ErrorCode.InvalidArgument, `html is larger than ${MAX_HTML_BYTES} bytes`);
        const host = req.hostname.toLowerCase();
        const domain = (await storeCall(() => store.listDomains())).find((d) => d.hostname === host && d.tenant === req.tenant);
        if (!domain) throw new WinnowError(ErrorCode.NotFound, `no tracking domain ${host || '(empty)'} is registered for tenant ${req.tenant}`);
        const sentAtS = Math.floor(Date.now() / 1000);
        // On a worker thread: this service's own thread goes on with the pipeline meanwhile.
        const prepared = await this.preparer.prepare(
          req.html,
          domain,
          {
            baseUrl: req.baseUrl || `https://${host}`,
            tenant: req.tenant,
            campaign: req.campaign,
            message: req.message,
            sentAtS,
            ...(req.recipientDomain ? { recipientDomain: req.recipientDomain } : {}),
          },
          ctx.signal,
        );
        let recorded = false;
        if (!req.skipDelivery) {
          // Through the ingestor: a delivery of an erased message is not recorded again.
          const r = await storeCall(() =>
            this.ingestor.deliver([create(DeliverySchema, { tenant: req.tenant, campaign: req.campaign, message: req.message, deliveredAtUnixMs: String(sentAtS * 1000), links: prepared.links.length })]),
          );
          recorded = r.recorded === 1;
        }
        // True only when this call recorded the delivery (not for a message delivered before).
        return { html: prepared.html, trackedLinks: prepared.links.length - 1, deliveryRecorded: recorded, untrackedLinks: prepared.untracked.length };
      },
    };
  }
}
