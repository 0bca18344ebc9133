import { Source } from '@winnow/proto';
import type { CampaignCounters } from './counters';
import { sourceBit } from './sources';

/** What the estimate is made from: unique recipients, counted once each. */
export interface OpenEstimateInput {
  delivered: number;
  /** Recipients whose pixel Apple's privacy proxy fetched: whether they opened is hidden. */
  hidden: number;
  /** Of the others: recipients seen opening (or clicking, which means they opened), and clicking. */
  visibleOpeners: number;
  visibleClickers: number;
  /** Of the hidden ones: recipients who clicked (a person's click is not hidden by the proxy). */
  hiddenClickers: number;
}

export interface OpenEstimate {
  /** Estimated share of delivered recipients who opened, people only. */
  rate: number;
  /** A 95% interval around it. */
  low: number;
  high: number;
  /** Share of delivered recipients whose opens are hidden. */
  hiddenShare: number;
  /** The plain human open rate, with hidden recipients counted only when they clicked. */
  observedRate: number;
}

const Z95 = 1.959963984540054;
const clamp = (x: number) => Math.min(1, Math.max(0, x));

/**
 * Estimates the human open rate of a campaign where Apple Mail Privacy Protection hides whether some
 * recipients opened (docs/statistics.md, "The real open rate").
 *
 * Assumption: hidden recipients who open click as often as visible recipients who open (the same
 * click-to-open rate). Clicks are seen for everyone. So the hidden recipients' open rate is their
 * click rate divided by the visible recipients' click-to-open rate:
 *
 *   rate = (visibleOpeners + hidden * (hiddenClickers / hidden) / (visibleClickers / visibleOpeners)) / delivered
 *
 * The interval comes from the delta method on the logarithms of the two rates (both binomial), with
 * half a count added to each cell so that zero counts give a finite, wide interval. It is clipped so
 * that it never claims fewer openers than were seen or more than were delivered.
 */
export function estimateOpenRate(i: OpenEstimateInput): OpenEstimate | undefined {
  if (i.delivered <= 0) return undefined;
  const visible = i.delivered - i.hidden;
  const observedRate = clamp((i.visibleOpeners + i.hiddenClickers) / i.delivered);
  const hiddenShare = i.hidden / i.delivered;
  if (i.hidden === 0) {
    // Nothing hidden: a binomial proportion (Wilson interval).
    const n = i.delivered;
    const p = i.visibleOpeners / n;
    const centre = (p + (Z95 * Z95) / (2 * n)) / (1 + (Z95 * Z95) / n);
    const half = (Z95 * Math.sqrt((p * (1 - p)) / n + (Z95 * Z95) / (4 * n * n))) / (1 + (Z95 * Z95) / n);
    return { rate: p, low: clamp(centre - half), high: clamp(centre + half), hiddenShare, observedRate };
  }
  // Click rate of the hidden recipients, click-to-open rate of the visible ones (Haldane: +0.5).
  const q = (i.hiddenClickers + 0.5) / (i.hidden + 1);
  const k = (i.visibleClickers + 0.5) / (i.visibleOpeners + 1);
  const hiddenOpen = Math.min(1, q / k);
  const varLog = (1 - q) / ((i.hidden + 1) * q) + (1 - k) / ((i.visibleOpeners + 1) * k);
  const sd = Math.sqrt(varLog);
  const hiddenLow = Math.min(1, (q / k) * Math.exp(-Z95 * sd));
  const hiddenHigh = Math.min(1, (q / k) * Math.exp(Z95 * sd));
  // The visible part is a proportion too; its spread adds to the hidden part's.
  const a = visible > 0 ? i.visibleOpeners / visible : 0;
  const visibleSd = visible > 0 ? Math.sqrt((a * (1 - a)) / visible) : 0;
  const share = (x: number, y: number) => (visible * x + i.hidden * y) / i.delivered;
  const rate = share(a, hiddenOpen);
  const visibleSpread = (visible * Z95 * visibleSd) / i.delivered;
  const spreadLow = Math.hypot(rate - share(a, hiddenLow), visibleSpread);
  const spreadHigh = Math.hypot(share(a, hiddenHigh) - rate, visibleSpread);
  const floor = (i.visibleOpeners + i.hiddenClickers) / i.delivered;
  return {
    rate: clamp(Math.max(rate, floor)),
    low: clamp(Math.max(rate - spreadLow, floor)),
    high: clamp(rate + spreadHigh),
    hiddenShare,
    observedRate,
  };
}

/** The estimate's input from a campaign's counters: each recipient's engagement key, counted once. */
export function openEstimateInput(c: CampaignCounters): OpenEstimateInput {
  const apple = sourceBit(Source.APPLE_MPP);
  const human = sourceBit(Source.HUMAN);
  let hidden = 0;
  let visibleOpeners = 0;
  let visibleClickers = 0;
  let hiddenClickers = 0;
  for (const [key, count] of Object.entries(c.engaged)) {
    const k = Number(key);
    const opens = k & 0xff;
    const clicks = (k >> 8) & 0xff;
    const clicked = (clicks & human) !== 0;
    if (opens & apple) {
      hidden += count;
      if (clicked) hiddenClickers += count;
    } else {
      if (clicked || (opens & human) !== 0) visibleOpeners += count;
      if (clicked) visibleClickers += count;
    }
  }
  return { delivered: c.delivered, hidden: Math.min(hidden, c.delivered), visibleOpeners, visibleClickers, hiddenClickers };
}
