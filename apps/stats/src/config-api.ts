import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { toBinary, create } from '@bufbuild/protobuf';
import { ErrorCode, WinnowError, type ImplOf } from '@winnow/grpc';
import { ListTrackingDomainsResponseSchema, Source, StoredApiKeySchema, type ConfigService, type SuppressionPolicy } from '@winnow/proto';
import { AUTOMATED_SOURCES } from '@winnow/engagement';
import { isTenantId, trackingDomainProblem } from '@winnow/tokens';
import type { EventStore } from '@winnow/storage';
import { EVENT_STORE } from './tokens';
import { storeCall } from './store-errors';
import { Authenticator, principalOf, requireService, requireTenants } from './auth';
import { generateApiKey } from '@winnow/tokens';

function policyProblem(p: SuppressionPolicy): string | undefined {
  if (!isTenantId(p.tenant)) return `tenant ${JSON.stringify(p.tenant)} must be lower-case letters, digits and dashes`;
  for (const sel of [p.opens, p.clicks]) {
    for (const s of sel?.sources ?? []) {
      if (!AUTOMATED_SOURCES.includes(s)) return `${Source[s] ?? s} is not an automated source; people are never suppressed`;
    }
  }
  return undefined;
}

/** The ConfigService gRPC handlers: tracking domains with their keys, and suppression policy. */
@Injectable()
export class ConfigApi {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly auth: Authenticator,
  ) {}

  handlers(): ImplOf<typeof ConfigService> {
    const store = this.store;
    return {
      putTrackingDomain: async (req, ctx) => {
        requireService(ctx);
        const d = req.domain;
        if (!d) throw new WinnowError(ErrorCode.InvalidArgument, 'domain is required');
        const problem = trackingDomainProblem(d);
        if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
        const existing = (await storeCall(() => store.listDomains())).find((x) => x.hostname === d.hostname);
        if (existing && existing.tenant !== d.tenant) {
          throw new WinnowError(ErrorCode.AlreadyExists, `hostname ${d.hostname} is registered to another tenant`);
        }
        await storeCall(() => store.putDomain(d));
        return { domain: d };
      },
      deleteTrackingDomain: async (req, ctx) => {
        requireService(ctx);
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
        requireService(ctx);
        if (!isTenantId(req.tenant)) throw new WinnowError(ErrorCode.InvalidArgument, `tenant ${JSON.stringify(req.tenant)} must be lower-case letters, digits and dashes`);
        const k = generateApiKey();
        const info = { keyId: k.keyId, tenant: req.tenant, description: req.description.slice(0, 200), createdAtUnixMs: String(Date.now()) };
        await storeCall(() => store.putApiKey(create(StoredApiKeySchema, { info, secretSha256: k.secretSha256 })));
        return { key: k.key, info };
      },
      revokeApiKey: async (req, ctx) => {
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
        return { keys: (await storeCall(() => store.listApiKeys(req.tenant))).map((k) => k.info!) };
      },
    };
  }
}
