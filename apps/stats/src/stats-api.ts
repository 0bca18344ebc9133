import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, WinnowError, useWireDecoder, type ImplOf } from '@winnow/grpc';
import { Actor, EventKind, Granularity, IngestEventsRequestSchema, PolicyMode, Source, readIngestEventsRequest, type ExplicitPolicy, type StatsService } from '@winnow/proto';
import { AUTOMATED_MASK, AUTOMATED_SOURCES, appliedPolicy, campaignStats, countingMask, sourceBit, ALL_SOURCES } from '@winnow/engagement';
import { linkStats } from './link-stats';
import type { EventStore, HourBucket } from '@winnow/storage';
import { EVENT_STORE } from './tokens';
import { limitField, requireField, storeCall } from './store-errors';
import { requireService, requireTenants } from './auth';
import { tenantIdProblem } from '@winnow/tokens';
import { Ingestor } from './ingest';
import { Reclassifier } from './reclassify';

const DAY_MS = 86_400_000;

// The classifier's batches, once per collector batch, are read in one pass when their bytes are
// ordinary, and by protobuf-es otherwise (libs/proto/src/wire-reader.ts).
useWireDecoder(IngestEventsRequestSchema, readIngestEventsRequest);

function sumMasked(arr: number[], mask: number): number {
  let n = 0;
  for (const s of ALL_SOURCES) if (mask & sourceBit(s)) n += arr[s] ?? 0;
  return n;
}

/** The policy a query asks for: a mode, and with POLICY_MODE_EXPLICIT the sources to leave out. */
function policyOf(req: { policyMode: PolicyMode; explicitPolicy?: ExplicitPolicy | undefined }): [PolicyMode, ExplicitPolicy | undefined] {
  if (req.policyMode !== PolicyMode.EXPLICIT) {
    if (req.explicitPolicy) throw new WinnowError(ErrorCode.InvalidArgument, 'explicit_policy is read only with policy_mode POLICY_MODE_EXPLICIT');
    if (!(req.policyMode in PolicyMode)) throw new WinnowError(ErrorCode.InvalidArgument, `policy_mode ${req.policyMode} is not a policy mode`);
    return [req.policyMode, undefined];
  }
  const e = req.explicitPolicy;
  for (const s of [...(e?.leaveOutOpens ?? []), ...(e?.leaveOutClicks ?? [])]) {
    if (!AUTOMATED_SOURCES.includes(s)) throw new WinnowError(ErrorCode.InvalidArgument, `${Source[s] ?? s} is not an automated source; people are never left out`);
  }
  return [PolicyMode.EXPLICIT, e];
}

/** The StatsService gRPC handlers: validate, ask the store, shape the answer. */
@Injectable()
export class StatsApi {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly ingestor: Ingestor,
    private readonly reclassifier: Reclassifier,
  ) {}

  handlers(): ImplOf<typeof StatsService> {
    /**
     * Tenants are ids (lower-case letters, digits, dashes): the stores build keys from them, and a
     * tenant holding the key separator could reach another tenant's records on MongoDB (`a:b` + `c`
     * against `a` + `b:c`).
     */
    const tenantIds = (tenants: readonly string[]) => {
      for (const t of new Set(tenants)) {
        const problem = tenantIdProblem(t);
        if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
      }
    };
    /** A message id is an opaque id of one recipient's copy, never the recipient's address (docs/privacy.md). */
    const noAddress = (v: string, what: string) => {
      if (v.includes('@')) throw new WinnowError(ErrorCode.InvalidArgument, `${what} looks like an email address: use an opaque id (no patient data in identifiers)`);
    };
    const store = this.store;
    return {
      recordDeliveries: async (req, ctx) => {
        const tenants = req.deliveries.map((d) => d.tenant);
        requireTenants(ctx, tenants);
        tenantIds(tenants);
        for (const d of req.deliveries) {
          limitField(d.campaign, 'delivery campaign');
          limitField(d.message, 'delivery message');
          noAddress(d.message, 'delivery message');
        }
        const r = await storeCall(() => this.ingestor.deliver(req.deliveries));
        return { recorded: String(r.recorded), duplicates: String(r.duplicates) };
      },
      recordEvents: async (req, ctx) => {
        const tenants = req.events.map((e) => e.event?.tenant ?? '');
        requireTenants(ctx, tenants);
        tenantIds(tenants);
        for (const e of req.events) {
          limitField(e.event?.id ?? '', 'event id');
          limitField(e.event?.campaign ?? '', 'event campaign');
          limitField(e.event?.message ?? '', 'event message');
          noAddress(e.event?.message ?? '', 'event message');
        }
        const r = await storeCall(() => this.ingestor.record(req.events));
        return { stored: String(r.stored), duplicates: String(r.duplicates), revised: String(r.revised) };
      },
      ingestEvents: async (req, ctx) => {
        requireService(ctx);
        const r = await storeCall(() => this.ingestor.ingest(req.events));
        return { stored: String(r.stored), duplicates: String(r.duplicates), revised: String(r.revised), deadLettered: String(r.deadLettered) };
      },
      listDeadLetters: async (req, ctx) => {
        if (req.tenant) requireTenants(ctx, [req.tenant]);
        else requireService(ctx);
        const size = req.pageSize === 0 ? 100 : req.pageSize;
        if (size < 1 || size > 1000) throw new WinnowError(ErrorCode.InvalidArgument, 'page_size must be between 1 and 1000');
        return storeCall(() => store.listDeadLetters(req.tenant, size, req.pageToken));
      },
      erase: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        limitField(req.message, 'message');
        limitField(req.campaign, 'campaign');
        const scopes = [req.message !== '', req.campaign !== '', req.wholeTenant].filter(Boolean).length;
        if (scopes !== 1) throw new WinnowError(ErrorCode.InvalidArgument, 'name exactly one of message, campaign or whole_tenant');
        if (req.wholeTenant) requireService(ctx);
        const scope = req.wholeTenant ? { tenant, wholeTenant: true as const } : req.message ? { tenant, message: req.message } : { tenant, campaign: req.campaign };
        const r = await storeCall(() => this.ingestor.erase(scope));
        return { events: String(r.events), messages: String(r.messages), deadLetters: String(r.deadLetters) };
      },
      startReclassification: async (req, ctx) => {
        requireService(ctx);
        const tenant = requireField(req.tenant, 'tenant');
        return { job: await storeCall(() => this.reclassifier.start(tenant)) };
      },
      getReclassification: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        return { job: await storeCall(() => this.reclassifier.get(tenant)) };
      },
      replayDeadLetters: async (req, ctx) => {
        requireService(ctx);
        const tenant = requireField(req.tenant, 'tenant');
        for (const id of req.ids) limitField(id, 'ids');
        const r = await storeCall(() => this.ingestor.replay(tenant, req.ids));
        return { replayed: String(r.replayed), stored: String(r.stored), deadLettered: String(r.deadLettered) };
      },
      discardDeadLetters: async (req, ctx) => {
        requireService(ctx);
        // An empty tenant names the dead letters whose event names none (they can never be stored).
        limitField(req.tenant, 'tenant');
        if (req.ids.length === 0) throw new WinnowError(ErrorCode.InvalidArgument, 'ids is required: name the dead letters to discard');
        if (req.ids.length > 1000) throw new WinnowError(ErrorCode.InvalidArgument, `ids holds ${req.ids.length} ids (at most 1000 a call)`);
        for (const id of req.ids) limitField(id, 'ids');
        const discarded = await storeCall(() => store.deleteDeadLetters(req.tenant, req.ids));
        return { discarded: String(discarded) };
      },
      getCampaignStats: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        const campaign = requireField(req.campaign, 'campaign');
        const [mode, explicit] = policyOf(req);
        const [counters, policy] = await storeCall(() => Promise.all([store.campaignCounters(tenant, campaign), store.getPolicy(tenant)]));
        return { stats: campaignStats(tenant, campaign, counters, policy, mode, explicit) };
      },
      getMessageTimeline: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        const message = requireField(req.message, 'message');
        const [record, events] = await storeCall(() => Promise.all([store.message(tenant, message), store.messageEvents(tenant, message)]));
        if (!record) throw new WinnowError(ErrorCode.NotFound, `no message ${message} for tenant ${tenant}`);
        return {
          timeline: { tenant, message, campaign: record.campaign, deliveredAtUnixMs: String(record.deliveredAtMs), events },
        };
      },
      listEvents: async (req, ctx) => {
        if (!req.filter?.tenant) throw new WinnowError(ErrorCode.InvalidArgument, 'filter.tenant is required');
        requireTenants(ctx, [req.filter.tenant]);
        limitField(req.filter.campaign, 'filter.campaign');
        limitField(req.filter.message, 'filter.message');
        const size = req.pageSize === 0 ? 100 : req.pageSize;
        if (size < 1 || size > 1000) throw new WinnowError(ErrorCode.InvalidArgument, 'page_size must be between 1 and 1000');
        const filter = req.filter;
        // An unknown enum value matched nothing and answered an empty page, as if there were no events.
        if (!(filter.source in Source)) throw new WinnowError(ErrorCode.InvalidArgument, `filter.source ${filter.source} is not a source`);
        if (!(filter.kind in EventKind)) throw new WinnowError(ErrorCode.InvalidArgument, `filter.kind ${filter.kind} is not an event kind`);
        if (!(filter.actor in Actor)) throw new WinnowError(ErrorCode.InvalidArgument, `filter.actor ${filter.actor} is not an actor`);
        if (Number(filter.toUnixMs) > 0 && Number(filter.fromUnixMs) > Number(filter.toUnixMs)) throw new WinnowError(ErrorCode.InvalidArgument, 'filter.from_unix_ms is after filter.to_unix_ms');
        return storeCall(() => store.listEvents(filter, size, req.pageToken));
      },
      getLinkStats: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        const campaign = requireField(req.campaign, 'campaign');
        const [mode, explicit] = policyOf(req);
        const policy = await storeCall(() => store.getPolicy(tenant));
        const mask = countingMask(policy, mode, explicit);
        const stats = await storeCall(() => linkStats(store, tenant, campaign, mask));
        return {
          ...stats,
          appliedPolicy: appliedPolicy(mode, mask),
        };
      },
      getTimeSeries: async (req, ctx) => {
        const tenant = requireField(req.tenant, 'tenant');
        requireTenants(ctx, [tenant]);
        const campaign = requireField(req.campaign, 'campaign');
        if (req.granularity !== Granularity.UNSPECIFIED && req.granularity !== Granularity.HOUR && req.granularity !== Granularity.DAY) {
          throw new WinnowError(ErrorCode.InvalidArgument, `granularity ${req.granularity} is not one of GRANULARITY_HOUR, GRANULARITY_DAY`);
        }
        if (Number(req.toUnixMs) > 0 && Number(req.fromUnixMs) > Number(req.toUnixMs)) throw new WinnowError(ErrorCode.InvalidArgument, 'from_unix_ms is after to_unix_ms');
        const granularity = req.granularity === Granularity.DAY ? Granularity.DAY : Granularity.HOUR;
        const [buckets, policy] = await storeCall(() =>
          Promise.all([store.hourBuckets(tenant, campaign, Number(req.fromUnixMs), Number(req.toUnixMs)), store.getPolicy(tenant)]),
        );
        const [mode, explicit] = policyOf(req);
        const mask = countingMask(policy, mode, explicit);
        const width = granularity === Granularity.DAY ? DAY_MS : 3_600_000;
        const points = new Map<number, { opens: number; clicks: number; ao: number; ac: number; bySource: { opens: number[]; clicks: number[] } }>();
        for (const b of buckets as HourBucket[]) {
          const start = b.hourStartMs - (b.hourStartMs % width);
          const p = points.get(start) ?? { opens: 0, clicks: 0, ao: 0, ac: 0, bySource: { opens: [], clicks: [] } };
          p.opens += sumMasked(b.opens, mask.opens);
          p.clicks += sumMasked(b.clicks, mask.clicks);
          p.ao += sumMasked(b.opens, AUTOMATED_MASK);
          p.ac += sumMasked(b.clicks, AUTOMATED_MASK);
          for (const s of ALL_SOURCES) {
            p.bySource.opens[s] = (p.bySource.opens[s] ?? 0) + (b.opens[s] ?? 0);
            p.bySource.clicks[s] = (p.bySource.clicks[s] ?? 0) + (b.clicks[s] ?? 0);
          }
          points.set(start, p);
        }
        const counts = (arr: number[]) => ALL_SOURCES.filter((s) => (arr[s] ?? 0) > 0).map((source) => ({ source, count: String(arr[source]) }));
        return {
          series: {
            granularity,
            points: [...points.entries()].map(([start, p]) => ({
              bucketStartUnixMs: String(start),
              opens: String(p.opens),
              clicks: String(p.clicks),
              automatedOpens: String(p.ao),
              automatedClicks: String(p.ac),
              opensBySource: counts(p.bySource.opens),
              clicksBySource: counts(p.bySource.clicks),
            })),
          },
        };
      },
    };
  }
}
