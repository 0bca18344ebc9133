import { Source } from '@winnow/proto';

/** Every source a verdict can name, in enum order. Bit `value - 1` stands for each in a mask. */
export const ALL_SOURCES: readonly Source[] = [
  Source.HUMAN,
  Source.APPLE_MPP,
  Source.GMAIL_PREFETCH,
  Source.YAHOO_PROXY,
  Source.SECURITY_SCANNER,
  Source.LINK_PREVIEW,
  Source.CLIENT_HELPER,
  Source.BOT,
];

export const AUTOMATED_SOURCES: readonly Source[] = ALL_SOURCES.filter((s) => s !== Source.HUMAN);

/** Number of per-source slots in counter arrays (index = enum value; slot 0 unused). */
export const SOURCE_SLOTS = Source.BOT + 1;

export function sourceBit(source: Source): number {
  if (source < Source.HUMAN || source > Source.BOT) throw new RangeError(`unknown source ${source}`);
  return 1 << (source - 1);
}

export function maskOf(sources: Iterable<Source>): number {
  let m = 0;
  for (const s of sources) m |= sourceBit(s);
  return m;
}

export const HUMAN_MASK = sourceBit(Source.HUMAN);
export const ALL_MASK = maskOf(ALL_SOURCES);
export const AUTOMATED_MASK = ALL_MASK & ~HUMAN_MASK;

export function sourcesIn(mask: number): Source[] {
  return ALL_SOURCES.filter((s) => (mask & sourceBit(s)) !== 0);
}

/** The trace-format name of a source (`security_scanner`), as used in docs, JSON and metrics. */
export function sourceName(source: Source): string {
  return Source[source]!.toLowerCase();
}

export function parseSourceName(name: string): Source | undefined {
  const v = (Source as unknown as Record<string, number>)[name.toUpperCase()];
  return typeof v === 'number' && v !== Source.UNSPECIFIED ? (v as Source) : undefined;
}
