import { create } from '@bufbuild/protobuf';
import { VerdictSchema, type EdgeEvent, type Verdict } from '@winnow/proto';
import { RULESET_VERSION, classifyBaseline } from './rules';

/** Verdicts for a batch of edge events, one per event, in order. */
export function classifyEvents(events: readonly EdgeEvent[]): Verdict[] {
  return events.map((event) => {
    const d = classifyBaseline(event);
    return create(VerdictSchema, {
      eventId: event.id,
      actor: d.actor,
      source: d.source,
      confidence: d.confidence,
      reasons: d.reasons,
      rulesetVersion: RULESET_VERSION,
      revision: 0,
    });
  });
}
