import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { UsageError, parseCommandLine } from './args';
import { Classifier, TraceLineError, parseTraceLine, verdictLine, type TraceEvent } from '@winnow/classification';

/**
 * `winnow classify FILE.jsonl`: reads a trace (shared/traces/FORMAT.md) and prints one verdict line
 * per input line, in order. Verdicts use the whole trace (later lines included), so they are the
 * final ones. A line that cannot be read gets `{"line": N, "error": "..."}` in its place, and the
 * command exits 1 after printing everything.
 */
export const CLASSIFY_USAGE = `usage: winnow classify FILE.jsonl   (or - for standard input)

Prints a verdict line for every line of a trace (JSON lines, shared/traces/FORMAT.md), in order,
decided with the whole trace in view. A line that cannot be read gets {"line": N, "error": "..."}
and the command exits 1 after printing everything.
`;

export async function classifyCommand(argv: string[]): Promise<void> {
  const args = parseCommandLine(argv, {}, CLASSIFY_USAGE, 1);
  if (!args) return;
  const file = args.positionals[0];
  if (!file) throw new UsageError(`FILE is required\n\n${CLASSIFY_USAGE}`);
  const input = file === '-' ? process.stdin : createReadStream(file);
  const lines: Array<TraceEvent | { line: number; error: string }> = [];
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    if (line.trim() === '') {
      lines.push({ line: n, error: 'empty line' });
      continue;
    }
    try {
      lines.push(parseTraceLine(JSON.parse(line)));
    } catch (err) {
      lines.push({ line: n, error: err instanceof TraceLineError || err instanceof SyntaxError ? err.message : String(err) });
    }
  }
  const events = lines.filter((l): l is TraceEvent => !('error' in l));
  const { verdicts } = new Classifier({ maxMessages: Number.MAX_SAFE_INTEGER }).classify(events);
  const byEvent = new Map(verdicts.map((v) => [v.event, v]));
  const out: string[] = [];
  let errors = 0;
  for (const l of lines) {
    if ('error' in l) {
      errors++;
      out.push(JSON.stringify(l));
    } else out.push(JSON.stringify(verdictLine(byEvent.get(l)!)));
  }
  process.stdout.write(out.length ? `${out.join('\n')}\n` : '');
  if (errors > 0) {
    process.stderr.write(`${errors} of ${n} lines could not be read\n`);
    process.exitCode = 1;
  }
}
