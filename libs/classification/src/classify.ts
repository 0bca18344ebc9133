import { create } from '@bufbuild/protobuf';
import { VerdictSchema, type EdgeEvent, type Verdict } from '@winnow/proto';
import { Classifier, type Classified } from './classifier';
import { RULESET_VERSION } from './ruleset';
import { fromEdgeEvent } from './trace-event';

/** A protobuf Verdict from a classification. */
export function toVerdict(c: Classified, eventId = c.event.id): Verdict {
  return create(VerdictSchema, {
    eventId,
    actor: c.decision.actor,
    source: c.decision.source,
    confidence: c.decision.confidence,
    reasons: c.decision.reasons,
    rulesetVersion: RULESET_VERSION,
    revision: c.revision,
  });
}

/** Verdicts for a self-contained batch (history = the batch), one per event, in order. */
export function classifyEvents(events: readonly EdgeEvent[]): Verdict[] {
  return new Classifier().classify(events.map(fromEdgeEvent)).verdicts.map((c) => toVerdict(c));
}
