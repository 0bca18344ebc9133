import { describe, expect, it } from 'vitest';
import { SYNTHETIC_TARGETS, evaluateSynthetic, syntheticMisses } from '@winnow/evaluation';

describe('classifier accuracy on the synthetic scenarios (npm run -s eval:classifier)', () => {
  const r = evaluateSynthetic();

  it('covers both public corpora and the documented actors', () => {
    const names = r.campaigns.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['browsers', 'crawlers', 'reminders-a', 'reminders-b']));
    expect(r.campaigns.find((c) => c.name === 'browsers')!.lines.length).toBeGreaterThanOrEqual(952 * 2);
    expect(r.campaigns.find((c) => c.name === 'crawlers')!.lines.length).toBeGreaterThan(1000);
    const sources = new Set(r.campaigns.flatMap((c) => c.lines.map((l) => l.label.source)));
    expect([...sources].sort()).toEqual(['apple_mpp', 'bot', 'client_helper', 'gmail_prefetch', 'human', 'link_preview', 'security_scanner', 'yahoo_proxy']);
  });

  it('meets the targets', () => {
    expect(syntheticMisses(r)).toEqual([]);
    expect(r.winnow.recall).toBeGreaterThanOrEqual(SYNTHETIC_TARGETS.recall);
    expect(r.winnow.humanFalsePositive).toBeLessThanOrEqual(SYNTHETIC_TARGETS.humanFalsePositive);
    expect(r.winnow.sourceAccuracy).toBeGreaterThanOrEqual(SYNTHETIC_TARGETS.sourceAccuracy);
    expect(r.worstCampaignError.winnow).toBeLessThanOrEqual(SYNTHETIC_TARGETS.worstCampaignError);
  });

  it('beats the user-agent-only baseline where the baseline is known to fail', () => {
    expect(r.isbot.recall).toBeLessThan(r.winnow.recall);
    expect(r.isbot.humanFalsePositive).toBeGreaterThan(r.winnow.humanFalsePositive);
  });
});
