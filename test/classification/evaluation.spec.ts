import { describe, expect, it } from 'vitest';
import { TARGETS, isbotBaseline, score, winnow } from '../../apps/cli/src/eval/evaluate';
import { buildCampaigns } from '../../apps/cli/src/eval/scenarios';

describe('classifier accuracy on labelled traces (npm run -s eval:classifier)', () => {
  const campaigns = buildCampaigns();
  const ours = score('winnow', campaigns, winnow);
  const base = score('isbot', campaigns, isbotBaseline);

  it('covers both public corpora and the documented actors', () => {
    const names = campaigns.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['browsers', 'crawlers', 'reminders-a', 'reminders-b']));
    expect(campaigns.find((c) => c.name === 'browsers')!.lines.length).toBeGreaterThanOrEqual(952 * 2);
    expect(campaigns.find((c) => c.name === 'crawlers')!.lines.length).toBeGreaterThan(1000);
    const sources = new Set(campaigns.flatMap((c) => c.lines.map((l) => l.label.source)));
    expect([...sources].sort()).toEqual(['apple_mpp', 'bot', 'client_helper', 'gmail_prefetch', 'human', 'link_preview', 'security_scanner', 'yahoo_proxy']);
  });

  it('meets the targets', () => {
    expect(ours.recall).toBeGreaterThanOrEqual(TARGETS.recall);
    expect(ours.humanFalsePositive).toBeLessThanOrEqual(TARGETS.humanFalsePositive);
    expect(ours.sourceAccuracy).toBeGreaterThanOrEqual(TARGETS.sourceAccuracy);
    expect(ours.worstCampaignError).toBeLessThanOrEqual(TARGETS.worstCampaignError);
  });

  it('beats the user-agent-only baseline where the baseline is known to fail', () => {
    expect(base.recall).toBeLessThan(ours.recall);
    expect(base.humanFalsePositive).toBeGreaterThan(ours.humanFalsePositive);
  });
});
