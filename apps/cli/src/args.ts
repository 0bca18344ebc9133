import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot be run: main prints it and exits 2 (1 is for a run that failed). */
export class UsageError extends Error {}

export interface CommandLine {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses a command's arguments, or prints its usage and returns undefined for --help. Every problem
 * is a UsageError with the usage after it: an unknown option, a value missing, and an option given
 * twice (`--tenant a --tenant b` would otherwise run on the last one without a word).
 */
export function parseCommandLine(argv: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string, maxPositionals = Infinity): CommandLine | undefined {
  let parsed: CommandLine & { tokens: Array<{ kind: string; name?: string }> };
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, tokens: true, options: { help: { type: 'boolean' }, ...options } }) as typeof parsed;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  if (parsed.values['help'] === true) {
    process.stdout.write(usage);
    return undefined;
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once\n\n${usage}`);
    seen.add(t.name);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected ${JSON.stringify(parsed.positionals[maxPositionals])}\n\n${usage}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}
