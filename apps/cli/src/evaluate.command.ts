import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TARGETS, isbotBaseline, report, score, winnow } from './eval/evaluate';
import { buildCampaigns } from './eval/scenarios';

/**
 * `winnow evaluate [--write DIR]`: builds the labelled traces (docs/classification.md), scores Winnow
 * and the isbot baseline on them, prints the table, and exits 1 when Winnow misses a target.
 */
export async function evaluateCommand(argv: string[]): Promise<void> {
  const campaigns = buildCampaigns();
  const w = argv.indexOf('--write');
  if (w !== -1 && argv[w + 1]) {
    mkdirSync(argv[w + 1]!, { recursive: true });
    for (const c of campaigns) writeFileSync(join(argv[w + 1]!, `${c.name}.jsonl`), `${c.lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  }
  const ours = score('winnow', campaigns, winnow);
  const base = score('isbot', campaigns, isbotBaseline);
  process.stdout.write(`${report([ours, base])}\n`);
  const missed = [
    ours.recall < TARGETS.recall && 'recall',
    ours.humanFalsePositive > TARGETS.humanFalsePositive && 'human events called automated',
    ours.sourceAccuracy < TARGETS.sourceAccuracy && 'source accuracy',
    ours.worstCampaignError > TARGETS.worstCampaignError && 'campaign unique human counts',
  ].filter(Boolean);
  if (missed.length > 0) {
    process.stdout.write(`missed: ${missed.join(', ')}\n`);
    process.exitCode = 1;
  }
}
