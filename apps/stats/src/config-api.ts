import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { toBinary, create } from '@bufbuild/protobuf';
import { ErrorCode, WinnowError, type ImplOf } from '@winnow/grpc';
import { ListTrackingDomainsResponseSchema, Source, type ConfigService, type SuppressionPolicy } from '@winnow/proto';
import { AUTOMATED_SOURCES } from '@winnow/engagement';
import { isTenantId, trackingDomainProblem } from '@winnow/tokens';
import type { EventStore } from '@winnow/storage';
import { EVENT_STORE } from './tokens';
import { storeCall } from './store-errors';

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
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  handlers(): ImplOf<typeof ConfigService> {
    const store = this.store;
    return {
      putTrackingDomain: async (req) => {
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
      deleteTrackingDomain: async (req) => ({
        deleted: await storeCall(() => store.deleteDomain(req.hostname, req.tenant)),
      }),
      listTrackingDomains: async () => {
        const domains = await storeCall(() => store.listDomains());
        const bytes = toBinary(ListTrackingDomainsResponseSchema, create(ListTrackingDomainsResponseSchema, { domains }));
        return { domains, version: createHash('sha256').update(bytes).digest('base64url').slice(0, 16) };
      },
      putSuppressionPolicy: async (req) => {
        const p = req.policy;
        if (!p) throw new WinnowError(ErrorCode.InvalidArgument, 'policy is required');
        const problem = policyProblem(p);
        if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
        await storeCall(() => store.putPolicy(p));
        return { policy: p };
      },
      getSuppressionPolicy: async (req) => {
        const p = await storeCall(() => store.getPolicy(req.tenant));
        return p ? { policy: p, explicit: true } : { policy: { tenant: req.tenant, opens: { allAutomated: true }, clicks: { allAutomated: true } }, explicit: false };
      },
    };
  }
}
