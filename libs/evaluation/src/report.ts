import { FIELD_TARGETS, SYNTHETIC_TARGETS, type Scores } from './score';
import { fieldMisses, syntheticMisses, type FieldResult, type SyntheticResult } from './evaluate';
import { isComplete } from './field-corpus';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const num = (x: number) => x.toFixed(3);

function overallRows(rows: Array<[string, Scores]>): string[] {
  const out = [`  ${'slice'.padEnd(30)} ${'events'.padStart(6)} ${'precision'.padStart(9)} ${'recall'.padStart(7)} ${'human->auto'.padStart(11)} ${'source acc'.padStart(10)}`];
  for (const [label, s] of rows) {
    out.push(`  ${label.padEnd(30)} ${String(s.events).padStart(6)} ${num(s.precision).padStart(9)} ${num(s.recall).padStart(7)} ${pct(s.humanFalsePositive).padStart(11)} ${pct(s.sourceAccuracy).padStart(10)}`);
  }
  return out;
}

function classRows(w: Scores, b: Scores): string[] {
  const out = [`  ${'class'.padEnd(17)} ${'events'.padStart(6)} ${'winnow verdict'.padStart(14)} ${'winnow source'.padStart(13)} ${'isbot verdict'.padStart(13)} ${'isbot source'.padStart(12)}`];
  for (const c of w.perClass) {
    const bc = b.perClass.find((x) => x.source === c.source)!;
    const r = (k: number) => `${k}/${c.events}`;
    const s = (k: number) => (c.sourceEvents ? `${k}/${c.sourceEvents}` : '-');
    out.push(`  ${c.source.padEnd(17)} ${String(c.events).padStart(6)} ${r(c.verdictRight).padStart(14)} ${s(c.sourceRight).padStart(13)} ${r(bc.verdictRight).padStart(13)} ${s(bc.sourceRight).padStart(12)}`);
  }
  return out;
}

export function syntheticReport(r: SyntheticResult): string {
  const t = SYNTHETIC_TARGETS;
  const out = ['== synthetic scenarios (built from the documented signatures: a regression check, gated by npm test)'];
  out.push(...overallRows([['winnow', r.winnow], ['isbot', r.isbot]]));
  out.push(`  worst campaign error in unique human openers/clickers: winnow ${pct(r.worstCampaignError.winnow)}, isbot ${pct(r.worstCampaignError.isbot)}`);
  out.push(`  per campaign (winnow predicted/true openers, clickers): ${r.winnowCampaigns.map((c) => `${c.campaign} ${c.openers[0]}/${c.openers[1]}, ${c.clickers[0]}/${c.clickers[1]}`).join('; ')}`);
  out.push(...classRows(r.winnow, r.isbot));
  out.push(`  targets: recall >= ${t.recall}, human->auto <= ${pct(t.humanFalsePositive)}, source accuracy >= ${pct(t.sourceAccuracy)}, campaign error <= ${pct(t.worstCampaignError)}`);
  const missed = syntheticMisses(r);
  out.push(missed.length ? `  MISSED: ${missed.join(', ')}` : '  all synthetic targets met');
  return out.join('\n');
}

export function fieldReport(r: FieldResult): string {
  const t = FIELD_TARGETS;
  const out = [`== field corpus (requests others published, test/fixtures/field: ${r.lines.length} lines; ${r.units.tuning} tuning and ${r.units['held-out']} held-out source units)`];
  out.push(`  provenance: ${Object.entries(r.kinds).map(([k, v]) => `${k} ${v.tuning}+${v['held-out']}`).join(', ')} (tuning+held-out)`);
  out.push(`  lines per class: ${Object.entries(r.perSource).sort().map(([k, v]) => `${k} ${v}`).join(', ')}; address and headers from the source: ${r.addressAndHeadersFromSource}; complete (nothing but bookkeeping filled): ${r.lines.filter(isComplete).length}`);
  out.push(`  people by client (${Object.keys(r.clients).length} clients): ${Object.entries(r.clients).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const half of ['tuning', 'held-out'] as const) {
    out.push(`-- ${half} half`);
    const rows: Array<[string, Scores]> = [];
    for (const s of r.slices.filter((x) => x.half === half)) rows.push([`winnow ${s.subset}`, s.winnow], [`isbot ${s.subset}`, s.isbot]);
    out.push(...overallRows(rows));
    const all = r.slices.find((x) => x.half === half && x.subset === 'all')!;
    out.push(...classRows(all.winnow, all.isbot));
    const rel = r.reliability[half];
    out.push(`  reliability of winnow's confidence: ${rel.buckets.map((b) => `[${b.lo.toFixed(1)},${b.hi.toFixed(1)}) n=${b.events} conf ${num(b.confidence)} right ${num(b.accuracy)}`).join('; ')}`);
    out.push(`  expected calibration error: ${num(rel.ece)}`);
  }
  const knots = (c: { knots: Array<[number, number]> }) => c.knots.map(([x, y]) => `${x}->${y}`).join(', ') || 'identity';
  const same = JSON.stringify(r.calibration.bundled.knots) === JSON.stringify(r.calibration.fresh.knots);
  out.push(`  calibration shipped (${r.calibration.bundled.fittedOn}): ${knots(r.calibration.bundled)}`);
  if (!same) out.push(`  a fit on today's tuning half differs: ${knots(r.calibration.fresh)} (refit: npm run -s eval:classifier -- --fit)`);
  out.push(`  targets (held-out half, reported, not gated): human->auto <= ${pct(t.humanFalsePositive)}, recall >= ${t.recall}, source accuracy >= ${pct(t.sourceAccuracy)}, ECE <= ${t.ece}`);
  const missed = fieldMisses(r);
  out.push(missed.length ? `  held-out half misses: ${missed.join(', ')}` : '  held-out half meets every target');
  return out.join('\n');
}
