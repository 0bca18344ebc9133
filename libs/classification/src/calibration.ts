import fitted from './data/calibration.json';
import type { Decision } from './verdict';

/**
 * A monotone map from the rules' own confidence to the share of verdicts that proved right, fitted
 * on the tuning half of the field corpus (libs/evaluation, `npm run -s eval:classifier -- --fit`).
 * Between knots the map is linear; below the first it runs from (0.5, 0.5), above the last it is flat.
 */
export interface Calibration {
  /** What it was fitted on, and when. */
  fittedOn: string;
  /** [raw confidence, calibrated confidence], raw ascending, calibrated non-decreasing. */
  knots: Array<[number, number]>;
}

export const BUNDLED_CALIBRATION: Calibration = fitted as Calibration;

export function calibrate(raw: number, c: Calibration): number {
  const k = c.knots;
  if (k.length === 0) return raw;
  let [x0, y0] = [0.5, 0.5];
  for (const [x1, y1] of k) {
    if (raw <= x1) return round(x1 === x0 ? y1 : y0 + ((raw - x0) * (y1 - y0)) / (x1 - x0));
    [x0, y0] = [x1, y1];
  }
  return round(y0);
}

/** The map tabulated at every 0.001 (confidences are given to three places), per calibration. */
const tables = new WeakMap<Calibration, Float64Array>();

function table(c: Calibration): Float64Array {
  let t = tables.get(c);
  if (!t) {
    t = new Float64Array(1001);
    for (let i = 0; i <= 1000; i++) t[i] = calibrate(i / 1000, c);
    tables.set(c, t);
  }
  return t;
}

/** Calibrates a decision in place (decisions are fresh objects from decide()). */
export function calibrated(d: Decision, c: Calibration | null): Decision {
  if (c && c.knots.length > 0) {
    const i = Math.round(d.confidence * 1000);
    d.confidence = i >= 0 && i <= 1000 && Math.abs(i - d.confidence * 1000) < 1e-6 ? table(c)[i]! : calibrate(d.confidence, c);
  }
  return d;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
