import type { EdgeEvent, Verdict } from '@winnow/proto';
import { Classifier, type Classified } from './classifier';
import { RULESET_VERSION } from './ruleset';
import { fromEdgeEvent } from './trace-event';

/** A protobuf Verdict from a classification. */
export function toVerdict(c: Classified, eventId = c.event.id): Verdict {
  // A literal, not create(): one per event on the ingest path, and the type lists every field.
  return {
    $typeName: 'winnow.verdict.v1.Verdict',
    eventId,
    actor: c.decision.actor,
    source: c.decision.source,
    confidence: c.decision.confidence,
    reasons: c.decision.reasons,
    rulesetVersion: RULESET_VERSION,
    revision: c.revision,
  };
}

/** Verdicts for a self-contained batch (history = the batch), one per event, in order. */
export function classifyEvents(events: readonly EdgeEvent[]): Verdict[] {
  return new Classifier().classify(events.map(fromEdgeEvent)).verdicts.map((c) => toVerdict(c));
}
