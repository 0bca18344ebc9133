import { isbot } from 'isbot';
import { Classifier, parseTraceLine, verdictLine } from '@winnow/classification';
import type { Campaign } from './scenarios';
import type { LabelledLine } from './labelled-traces';

export interface Prediction {
  verdict: 'human' | 'automated';
  source: string;
}

export interface Scores {
  name: string;
  events: number;
  precision: number;
  recall: number;
  /** Human events called automated, over all human events. */
  humanFalsePositive: number;
  /** Source right, over events whose label names a specific source (the crawler corpus is left out: its labels say only "automated"). */
  sourceAccuracy: number;
  /** Largest relative error of a campaign's unique human openers or clickers. */
  worstCampaignError: number;
  campaignErrors: Array<{ campaign: string; openers: [number, number]; clickers: [number, number] }>;
}

/** Winnow's verdicts for a campaign, classified as one trace (the offline command's way). */
export function winnow(c: Campaign): Prediction[] {
  const events = c.lines.map((l) => parseTraceLine(l));
  const { verdicts } = new Classifier({ maxMessages: Number.MAX_SAFE_INTEGER }).classify(events);
  return verdicts.map((v) => {
    const line = verdictLine(v);
    return { verdict: line['verdict'] as Prediction['verdict'], source: line['source'] as string };
  });
}

/** The user-agent-only baseline: npm `isbot` on each line alone. */
export function isbotBaseline(c: Campaign): Prediction[] {
  return c.lines.map((l) => (isbot(l.event.headers['user-agent'] ?? '') ? { verdict: 'automated', source: 'bot' } : { verdict: 'human', source: 'human' }));
}

const counted = (l: LabelledLine) => l.event.method === 'GET';

function uniques(lines: LabelledLine[], isHuman: (i: number) => boolean) {
  const openers = new Set<string>();
  const clickers = new Set<string>();
  lines.forEach((l, i) => {
    if (!counted(l) || !isHuman(i)) return;
    if (l.event.kind === 'click') clickers.add(l.message);
    openers.add(l.message); // a click implies the message was read (docs/decisions.md)
  });
  return { openers: openers.size, clickers: clickers.size };
}

export function score(name: string, campaigns: Campaign[], predict: (c: Campaign) => Prediction[]): Scores {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let humans = 0;
  let humanFp = 0;
  let sourceRight = 0;
  let sourceTotal = 0;
  let events = 0;
  const campaignErrors: Scores['campaignErrors'] = [];
  let worst = 0;
  for (const c of campaigns) {
    const pred = predict(c);
    c.lines.forEach((l, i) => {
      const p = pred[i]!;
      events++;
      const auto = l.label.verdict === 'automated';
      if (auto && p.verdict === 'automated') tp++;
      if (!auto && p.verdict === 'automated') fp++;
      if (auto && p.verdict === 'human') fn++;
      if (!auto) {
        humans++;
        if (p.verdict === 'automated') humanFp++;
      }
      if (c.name !== 'crawlers') {
        sourceTotal++;
        if (p.source === l.label.source) sourceRight++;
      }
    });
    if (c.name === 'crawlers') continue;
    const truth = uniques(c.lines, (i) => c.lines[i]!.label.verdict === 'human');
    const got = uniques(c.lines, (i) => pred[i]!.verdict === 'human');
    campaignErrors.push({ campaign: c.name, openers: [got.openers, truth.openers], clickers: [got.clickers, truth.clickers] });
    for (const [g, t] of [[got.openers, truth.openers], [got.clickers, truth.clickers]] as const) {
      if (t > 0) worst = Math.max(worst, Math.abs(g - t) / t);
    }
  }
  return {
    name,
    events,
    precision: tp / Math.max(1, tp + fp),
    recall: tp / Math.max(1, tp + fn),
    humanFalsePositive: humanFp / Math.max(1, humans),
    sourceAccuracy: sourceRight / Math.max(1, sourceTotal),
    worstCampaignError: worst,
    campaignErrors,
  };
}

export const TARGETS = { recall: 0.97, humanFalsePositive: 0.01, sourceAccuracy: 0.95, worstCampaignError: 0.03 };

export function report(rows: Scores[]): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const out = [
    `${'classifier'.padEnd(12)} ${'events'.padStart(7)} ${'precision'.padStart(10)} ${'recall'.padStart(8)} ${'human->auto'.padStart(12)} ${'source acc'.padStart(11)} ${'worst campaign err'.padStart(19)}`,
  ];
  for (const s of rows) {
    out.push(`${s.name.padEnd(12)} ${String(s.events).padStart(7)} ${s.precision.toFixed(3).padStart(10)} ${s.recall.toFixed(3).padStart(8)} ${pct(s.humanFalsePositive).padStart(12)} ${pct(s.sourceAccuracy).padStart(11)} ${pct(s.worstCampaignError).padStart(19)}`);
  }
  out.push(`targets: recall >= ${TARGETS.recall}, human->auto <= ${pct(TARGETS.humanFalsePositive)}, source accuracy >= ${pct(TARGETS.sourceAccuracy)}, each campaign's unique human openers and clickers within ${pct(TARGETS.worstCampaignError)}`);
  for (const s of rows) {
    out.push(`${s.name}: unique human openers / clickers per campaign (predicted/true): ${s.campaignErrors.map((c) => `${c.campaign} ${c.openers[0]}/${c.openers[1]}, ${c.clickers[0]}/${c.clickers[1]}`).join('; ')}`);
  }
  return out.join('\n');
}
