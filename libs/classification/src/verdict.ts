import { Actor, Source } from '@winnow/proto';

/** The outcome of classifying one event, before it becomes a protobuf Verdict. */
export interface Decision {
  actor: Actor;
  source: Source;
  /** 0..1 */
  confidence: number;
  /** Evidence a person can read, strongest first. */
  reasons: string[];
}

export const human = (confidence: number, reasons: string[]): Decision => ({
  actor: Actor.HUMAN,
  source: Source.HUMAN,
  confidence,
  reasons,
});

export const automated = (source: Source, confidence: number, reasons: string[]): Decision => ({
  actor: Actor.AUTOMATED,
  source,
  confidence,
  reasons,
});
