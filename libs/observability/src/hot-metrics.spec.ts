import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from './hot-metrics';

const buckets = [0.001, 0.01, 0.1];

/** The exposition text of one metric, under a neutral name so two registries can be compared. */
async function exposition(registry: Registry, name: string): Promise<string> {
  return (await registry.getSingleMetricAsString(name)).replaceAll(name, 'm');
}

describe('hot metrics', () => {
  it('a scrape shows exactly what prom-client would have shown, per label set', async () => {
    const hot = new Registry();
    const plain = new Registry();
    const counter = new HotCounter({ name: 'hot_total', help: 'h', labelNames: ['route', 'status'], registers: [hot] });
    const histogram = new HotHistogram({ name: 'hot_seconds', help: 'h', labelNames: ['route'], buckets, registers: [hot] });
    const refCounter = new Counter({ name: 'ref_total', help: 'h', labelNames: ['route', 'status'], registers: [plain] });
    const refHistogram = new Histogram({ name: 'ref_seconds', help: 'h', labelNames: ['route'], buckets, registers: [plain] });

    const ok = counter.cell({ route: 'pixel', status: '200' });
    const missing = counter.cell({ route: 'click', status: '404' });
    const pixel = histogram.cell({ route: 'pixel' });
    const click = histogram.cell({ route: 'click' });
    // A cell's series exists, at zero, from when the cell is made (series print in that order).
    refCounter.inc({ route: 'pixel', status: '200' }, 0);
    refCounter.inc({ route: 'click', status: '404' }, 0);
    refHistogram.zero({ route: 'pixel' });
    refHistogram.zero({ route: 'click' });
    // Values on every side of every bucket bound, and more than one cell holds before handing over.
    for (let i = 0; i < 10_000; i++) {
      const v = ((i * 7919) % 2000) / 10_000; // 0 .. 0.1999
      ok.n++;
      refCounter.inc({ route: 'pixel', status: '200' });
      pixel.observe(v);
      refHistogram.observe({ route: 'pixel' }, v);
    }

    expect(await exposition(hot, 'hot_total')).toBe(await exposition(plain, 'ref_total'));
    expect(await exposition(hot, 'hot_seconds')).toBe(await exposition(plain, 'ref_seconds'));
    expect(await exposition(hot, 'hot_total')).toContain('m{route="pixel",status="200"} 10000');
    expect(await exposition(hot, 'hot_total')).toContain('m{route="click",status="404"} 0');

    // Later increments add to what was handed over, once.
    missing.n += 3;
    click.observe(0.005);
    refCounter.inc({ route: 'click', status: '404' }, 3);
    refHistogram.observe({ route: 'click' }, 0.005);
    await hot.metrics();
    expect(await exposition(hot, 'hot_total')).toBe(await exposition(plain, 'ref_total'));
    expect(await exposition(hot, 'hot_seconds')).toBe(await exposition(plain, 'ref_seconds'));
  });

  it('refuses a value prom-client would refuse', () => {
    const histogram = new HotHistogram({ name: 'bad_seconds', help: 'h', labelNames: ['route'], buckets, registers: [] });
    expect(() => histogram.cell({ route: 'x' }).observe(Number.NaN)).toThrow(/not a finite number/);
  });
});
