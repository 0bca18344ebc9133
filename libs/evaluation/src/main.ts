#!/usr/bin/env node
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateField, evaluateSynthetic, syntheticMisses } from './evaluate';
import { fieldReport, syntheticReport } from './report';

/**
 * `npm run -s eval:classifier [-- --write DIR]`: scores Winnow and the isbot baseline on the synthetic
 * scenarios and on the field corpus, prints both reports, and exits 1 when a synthetic target is missed
 * (the field targets are reported, not gated). `--write DIR` also writes the synthetic traces.
 */
function main(argv: string[]): void {
  const synthetic = evaluateSynthetic();
  const w = argv.indexOf('--write');
  if (w !== -1 && argv[w + 1]) {
    mkdirSync(argv[w + 1]!, { recursive: true });
    for (const c of synthetic.campaigns) writeFileSync(join(argv[w + 1]!, `${c.name}.jsonl`), `${c.lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  }
  process.stdout.write(`${syntheticReport(synthetic)}\n\n${fieldReport(evaluateField())}\n`);
  const missed = syntheticMisses(synthetic);
  if (missed.length > 0) process.exitCode = 1;
}

main(process.argv.slice(2));
