#!/usr/bin/env node
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateField, evaluateSynthetic, fitOnTuningHalf, syntheticMisses } from './evaluate';
import { fieldReport, syntheticReport } from './report';

/**
 * `npm run -s eval:classifier [-- --write DIR]`: scores Winnow and the isbot baseline on the synthetic
 * scenarios and on the field corpus, prints both reports, and exits 1 when a synthetic target is missed
 * (the field targets are reported, not gated). `--write DIR` also writes the synthetic traces;
 * `--fit` refits the confidence calibration on the tuning half and writes it into the classifier's data.
 */
function main(argv: string[]): void {
  if (argv.includes('--fit')) {
    const file = join(__dirname, '..', '..', 'classification', 'src', 'data', 'calibration.json');
    const fitted = fitOnTuningHalf();
    writeFileSync(file, `${JSON.stringify(fitted, null, 2)}\n`);
    process.stdout.write(`calibration fitted on the ${fitted.fittedOn}, written to ${file}; rebuild (npm run build) to use it\n`);
    return;
  }
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
