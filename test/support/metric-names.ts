import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry } from '@winnow/observability';

const root = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'gen') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.spec.ts')) out.push(p);
  }
  return out;
}

/**
 * Every metric name the services can export, as Prometheus sees it: the names declared in the
 * services' and libraries' source (`name: 'winnow_...'`), prom-client's default metrics as our
 * registry registers them, and the _bucket, _sum and _count series of histograms.
 */
export async function exportedMetricNames(): Promise<string[]> {
  const names = new Set<string>();
  for (const f of [...sources(join(root, 'apps')), ...sources(join(root, 'libs'))]) {
    for (const m of readFileSync(f, 'utf8').matchAll(/name: '(winnow_[a-z0-9_]+)'/g)) names.add(m[1]!);
  }
  for (const m of await createRegistry('probe').getMetricsAsJSON()) names.add(m.name);
  for (const n of [...names]) for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${n}${suffix}`);
  return [...names];
}

/** The metric names a PromQL expression reads (identifiers followed by a selector or a range). */
export function metricsIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(winnow_[a-z0-9_]+)\b/g)].map((m) => m[1]!))];
}
