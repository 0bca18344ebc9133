import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { AppliedPolicySchema, CampaignStatsSchema, FiguresSchema, PolicyMode, type CampaignStats, type ExplicitPolicy, type SuppressionPolicy } from '@winnow/proto';
import { figures, type CampaignCounters, type FigureValues } from './counters';
import { countingMask, type CountingMask } from './policy';
import { estimateOpenRate, openEstimateInput } from './open-estimate';
import { ALL_MASK, AUTOMATED_MASK, AUTOMATED_SOURCES, HUMAN_MASK, sourceBit, sourcesIn } from './sources';

/** int64 fields travel as decimal strings (jstype = JS_STRING); rates are doubles. */
const toFigures = (f: FigureValues): MessageInitShape<typeof FiguresSchema> => ({
  ...f,
  opens: String(f.opens),
  uniqueOpens: String(f.uniqueOpens),
  clicks: String(f.clicks),
  uniqueClicks: String(f.uniqueClicks),
});

/** A campaign's statistics message, from its counters, the tenant's policy and the query's mode. */
export function campaignStats(
  tenant: string,
  campaign: string,
  counters: CampaignCounters,
  policy: SuppressionPolicy | undefined,
  mode: PolicyMode,
  explicit?: ExplicitPolicy,
): CampaignStats {
  const reported = countingMask(policy, mode, explicit);
  const estimate = estimateOpenRate(openEstimateInput(counters));
  return create(CampaignStatsSchema, {
    tenant,
    campaign,
    delivered: String(counters.delivered),
    reported: toFigures(figures(counters, reported)),
    human: toFigures(figures(counters, { opens: HUMAN_MASK, clicks: HUMAN_MASK })),
    all: toFigures(figures(counters, { opens: ALL_MASK, clicks: ALL_MASK })),
    automatedBySource: AUTOMATED_SOURCES.map((source) => ({
      source,
      figures: toFigures(figures(counters, { opens: sourceBit(source), clicks: sourceBit(source) })),
    })),
    ...(estimate ? { estimatedHumanOpenRate: estimate } : {}),
    appliedPolicy: appliedPolicy(mode, reported),
  });
}

/** What a query's figures followed: its mode and the automated sources its mask leaves out. */
export function appliedPolicy(mode: PolicyMode, mask: CountingMask): MessageInitShape<typeof AppliedPolicySchema> {
  return { mode, suppressedOpenSources: sourcesIn(AUTOMATED_MASK & ~mask.opens), suppressedClickSources: sourcesIn(AUTOMATED_MASK & ~mask.clicks) };
}
