import { describe, expect, it } from 'vitest';
import { Source } from '@winnow/proto';
import { emptyCampaign, estimateOpenRate, openEstimateInput, sourceBit, type OpenEstimateInput } from '@winnow/engagement';
import { rng } from '@winnow/evaluation';

const binomial = (r: () => number, n: number, p: number) => {
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
};

type Scenario = 'holds' | 'hidden click less' | 'hidden click more' | 'few clicks';

/** One simulated campaign with a known truth: how many recipients really opened. */
function campaign(r: () => number, scenario: Scenario): { input: OpenEstimateInput; truth: number } {
  const delivered = Math.round(Math.exp(Math.log(300) + r() * (Math.log(20_000) - Math.log(300))));
  const hiddenShare = 0.2 + r() * 0.5;
  const openVisible = 0.1 + r() * 0.5;
  // Hidden recipients may open more or less than the others: the method does not assume otherwise.
  const openHidden = Math.min(0.95, openVisible * (0.7 + r() * 0.6));
  const ctor = scenario === 'few clicks' ? 0.01 + r() * 0.02 : 0.05 + r() * 0.25;
  const ctorHidden = scenario === 'hidden click less' ? ctor * 0.6 : scenario === 'hidden click more' ? Math.min(1, ctor * 1.5) : ctor;
  const hidden = binomial(r, delivered, hiddenShare);
  const visible = delivered - hidden;
  const visibleOpeners = binomial(r, visible, openVisible);
  const visibleClickers = binomial(r, visibleOpeners, ctor);
  const hiddenOpeners = binomial(r, hidden, openHidden);
  const hiddenClickers = binomial(r, hiddenOpeners, ctorHidden);
  return { input: { delivered, hidden, visibleOpeners, visibleClickers, hiddenClickers }, truth: (visibleOpeners + hiddenOpeners) / delivered };
}

function trial(scenario: Scenario, campaigns: number, seed: number) {
  const r = rng(seed);
  let covered = 0;
  let absError = 0;
  let observedError = 0;
  let width = 0;
  for (let i = 0; i < campaigns; i++) {
    const { input, truth } = campaign(r, scenario);
    const e = estimateOpenRate(input)!;
    if (e.low <= truth && truth <= e.high) covered++;
    absError += Math.abs(e.rate - truth);
    observedError += Math.abs(e.observedRate - truth);
    width += e.high - e.low;
  }
  const out = { scenario, campaigns, coverage: covered / campaigns, meanAbsError: absError / campaigns, observedMeanAbsError: observedError / campaigns, meanWidth: width / campaigns };
  process.stdout.write(
    `open-rate estimate, ${scenario}: ${campaigns} simulated campaigns, 95% interval holds the truth in ${(out.coverage * 100).toFixed(1)}%, mean error ${(out.meanAbsError * 100).toFixed(2)} points (observed rate: ${(out.observedMeanAbsError * 100).toFixed(2)}), mean width ${(out.meanWidth * 100).toFixed(2)} points\n`,
  );
  return out;
}

describe('the estimate of the real open rate under Apple privacy prefetch', () => {
  it('holds the truth in about 95% of 1,000 simulated campaigns where its assumption holds, and is far closer than the observed rate', () => {
    const t = trial('holds', 1000, 20261130);
    expect(t.coverage).toBeGreaterThanOrEqual(0.93);
    expect(t.coverage).toBeLessThanOrEqual(0.985);
    expect(t.meanAbsError).toBeLessThan(t.observedMeanAbsError / 3);
  });

  it('stays honest with few clicks: wide intervals, still about 95%', () => {
    const t = trial('few clicks', 1000, 7);
    expect(t.coverage).toBeGreaterThanOrEqual(0.9);
  });

  it('misses more often when hidden readers click less or more than the others (reported, as the docs say)', () => {
    const less = trial('hidden click less', 1000, 11);
    const more = trial('hidden click more', 1000, 13);
    const holds = trial('holds', 1000, 17);
    expect(less.coverage).toBeLessThan(holds.coverage);
    expect(more.coverage).toBeLessThan(holds.coverage);
  });

  it('reads its input from the campaign counters, one recipient once', () => {
    const apple = sourceBit(Source.APPLE_MPP);
    const human = sourceBit(Source.HUMAN);
    const c = { ...emptyCampaign(), delivered: 10 };
    c.engaged = {
      [apple]: 3, // prefetched, no click
      [apple | (human << 8)]: 1, // prefetched, the person clicked
      [human]: 2, // seen opening
      [human | (human << 8)]: 1, // seen opening and clicking
      [human << 8]: 1, // a click whose open was not seen (images off): an opener
    };
    expect(openEstimateInput(c)).toEqual({ delivered: 10, hidden: 4, visibleOpeners: 4, visibleClickers: 2, hiddenClickers: 1 });
    const e = estimateOpenRate(openEstimateInput(c))!;
    expect(e.hiddenShare).toBe(0.4);
    expect(e.observedRate).toBe(0.5);
    expect(e.low).toBeGreaterThanOrEqual(0.5); // never fewer openers than were seen
    expect(estimateOpenRate({ delivered: 0, hidden: 0, visibleOpeners: 0, visibleClickers: 0, hiddenClickers: 0 })).toBeUndefined();
    const none = estimateOpenRate({ delivered: 100, hidden: 0, visibleOpeners: 30, visibleClickers: 5, hiddenClickers: 0 })!;
    expect(none.rate).toBe(0.3);
    expect(none.low).toBeLessThan(0.3);
    expect(none.high).toBeGreaterThan(0.3);
  });
});
