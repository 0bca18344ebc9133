import { isbot } from 'isbot';
import { Classifier, parseTraceLine, verdictLine, type Calibration } from '@winnow/classification';
import type { Campaign } from './scenarios';
import type { LabelledLine } from './labelled-traces';

export interface Prediction {
  verdict: 'human' | 'automated';
  source: string;
  /** The classifier's confidence in the verdict it gave (0.5..1); the baseline has none. */
  confidence?: number;
}

/** Winnow's verdicts for a set of lines, classified as one trace (the offline command's way). */
export function winnow(lines: readonly LabelledLine[], calibration?: Calibration | null): Prediction[] {
  const events = lines.map((l) => parseTraceLine(l));
  const { verdicts } = new Classifier({ maxMessages: Number.MAX_SAFE_INTEGER, ...(calibration !== undefined ? { calibration } : {}) }).classify(events);
  return verdicts.map((v) => {
    const line = verdictLine(v);
    return { verdict: line['verdict'] as Prediction['verdict'], source: line['source'] as string, confidence: v.decision.confidence };
  });
}

/** The user-agent-only baseline: npm `isbot` on each line alone. */
export function isbotBaseline(lines: readonly LabelledLine[]): Prediction[] {
  return lines.map((l) => (isbot(l.event.headers['user-agent'] ?? '') ? { verdict: 'automated', source: 'bot' } : { verdict: 'human', source: 'human' }));
}

export interface ClassScore {
  source: string;
  events: number;
  /** Events given the right verdict (human for people, automated for the rest). */
  verdictRight: number;
  /** Events whose label names a specific source, and of those, events given the right source. */
  sourceEvents: number;
  sourceRight: number;
}

export interface Scores {
  name: string;
  events: number;
  precision: number;
  /** Automated events called automated, over all automated events. */
  recall: number;
  /** Human events called automated, over all human events. */
  humanFalsePositive: number;
  /** Source right, over events whose label names a specific source. */
  sourceAccuracy: number;
  perClass: ClassScore[];
}

/**
 * Scores predictions against labels. `sourceScored(i)` says whether line i's label names a
 * specific source (the crawler corpus's labels say only "automated").
 */
export function score(name: string, lines: readonly LabelledLine[], pred: readonly Prediction[], sourceScored: (i: number) => boolean = () => true): Scores {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let humans = 0;
  let humanFp = 0;
  let sourceRight = 0;
  let sourceTotal = 0;
  const classes = new Map<string, ClassScore>();
  lines.forEach((l, i) => {
    const p = pred[i]!;
    const auto = l.label.verdict === 'automated';
    if (auto && p.verdict === 'automated') tp++;
    if (!auto && p.verdict === 'automated') fp++;
    if (auto && p.verdict === 'human') fn++;
    if (!auto) {
      humans++;
      if (p.verdict === 'automated') humanFp++;
    }
    let c = classes.get(l.label.source);
    if (!c) classes.set(l.label.source, (c = { source: l.label.source, events: 0, verdictRight: 0, sourceEvents: 0, sourceRight: 0 }));
    c.events++;
    if (p.verdict === l.label.verdict) c.verdictRight++;
    if (sourceScored(i)) {
      sourceTotal++;
      c.sourceEvents++;
      if (p.source === l.label.source) {
        sourceRight++;
        c.sourceRight++;
      }
    }
  });
  return {
    name,
    events: lines.length,
    precision: tp / Math.max(1, tp + fp),
    recall: tp / Math.max(1, tp + fn),
    humanFalsePositive: humanFp / Math.max(1, humans),
    sourceAccuracy: sourceRight / Math.max(1, sourceTotal),
    perClass: [...classes.values()].sort((a, b) => a.source.localeCompare(b.source)),
  };
}

/** Unique human openers and clickers of a campaign (a click implies the message was read: docs/decisions.md). */
function uniques(lines: readonly LabelledLine[], isHuman: (i: number) => boolean) {
  const openers = new Set<string>();
  const clickers = new Set<string>();
  lines.forEach((l, i) => {
    if (l.event.method !== 'GET' || !isHuman(i)) return;
    if (l.event.kind === 'click') clickers.add(l.message);
    openers.add(l.message);
  });
  return { openers: openers.size, clickers: clickers.size };
}

export interface CampaignError {
  campaign: string;
  openers: [number, number];
  clickers: [number, number];
  /** Largest relative error of the two. */
  error: number;
}

export function campaignError(c: Campaign, pred: readonly Prediction[]): CampaignError {
  const truth = uniques(c.lines, (i) => c.lines[i]!.label.verdict === 'human');
  const got = uniques(c.lines, (i) => pred[i]!.verdict === 'human');
  let error = 0;
  for (const [g, t] of [[got.openers, truth.openers], [got.clickers, truth.clickers]] as const) if (t > 0) error = Math.max(error, Math.abs(g - t) / t);
  return { campaign: c.name, openers: [got.openers, truth.openers], clickers: [got.clickers, truth.clickers], error };
}

export interface Reliability {
  /** Buckets of 0.1 of stated confidence: [lo, hi), events, mean confidence, share right. */
  buckets: Array<{ lo: number; hi: number; events: number; confidence: number; accuracy: number }>;
  /** Expected calibration error: the events-weighted mean gap between confidence and accuracy. */
  ece: number;
}

/** Reliability of the verdicts' confidence (is a verdict given with confidence 0.9 right 90% of the time?). */
export function reliability(lines: readonly LabelledLine[], pred: readonly Prediction[]): Reliability {
  const sums = Array.from({ length: 10 }, (_, k) => ({ lo: k / 10, hi: (k + 1) / 10, events: 0, confidence: 0, accuracy: 0 }));
  let n = 0;
  lines.forEach((l, i) => {
    const p = pred[i]!;
    if (p.confidence === undefined) return;
    const b = sums[Math.min(9, Math.floor(p.confidence * 10))]!;
    b.events++;
    b.confidence += p.confidence;
    if (p.verdict === l.label.verdict) b.accuracy++;
    n++;
  });
  let ece = 0;
  for (const b of sums) {
    if (b.events === 0) continue;
    ece += (b.events / n) * Math.abs(b.accuracy / b.events - b.confidence / b.events);
    b.confidence /= b.events;
    b.accuracy /= b.events;
  }
  return { buckets: sums.filter((b) => b.events > 0), ece };
}

/** Targets of issue 12: the synthetic scenarios gate `npm test`; the field corpus is reported. */
export const SYNTHETIC_TARGETS = { recall: 0.97, humanFalsePositive: 0.01, sourceAccuracy: 0.95, worstCampaignError: 0.03 };
export const FIELD_TARGETS = { recall: 0.95, humanFalsePositive: 0.02, sourceAccuracy: 0.9, ece: 0.05 };

/** Pseudo-events each bucket's observed accuracy is shrunk toward its stated confidence with. */
const SHRINK = 20;

/**
 * Fits the calibration map (libs/classification/src/calibration.ts) on uncalibrated predictions:
 * per 0.1 bucket of stated confidence, the observed share right, shrunk toward the stated
 * confidence by SHRINK pseudo-events, made non-decreasing by pooling adjacent violators.
 */
export function fitCalibration(lines: readonly LabelledLine[], raw: readonly Prediction[], fittedOn: string): Calibration {
  const rel = reliability(lines, raw);
  const blocks = rel.buckets.map((b) => ({ x: b.confidence, y: (b.events * b.accuracy + SHRINK * b.confidence) / (b.events + SHRINK), w: b.events + SHRINK, n: 1 }));
  // Pool adjacent violators: merge a block into its left neighbour while it lies below it.
  const pooled: typeof blocks = [];
  for (const b of blocks) {
    pooled.push({ ...b });
    while (pooled.length > 1 && pooled[pooled.length - 2]!.y > pooled[pooled.length - 1]!.y) {
      const r = pooled.pop()!;
      const l = pooled.pop()!;
      const w = l.w + r.w;
      pooled.push({ x: (l.x * l.w + r.x * r.w) / w, y: (l.y * l.w + r.y * r.w) / w, w, n: l.n + r.n });
    }
  }
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return { fittedOn, knots: pooled.map((b) => [r3(b.x), r3(Math.min(0.995, Math.max(0.5, b.y)))] as [number, number]) };
}
