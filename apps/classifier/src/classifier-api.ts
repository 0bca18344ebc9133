import { Inject, Injectable } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { ErrorCode, WinnowError, isRetryable, type ClientOf, type ImplOf } from '@winnow/grpc';
import { Source, type ClassifierService, type EdgeEvent, type StatsService } from '@winnow/proto';
import { Classifier, classifyEvents, fromEdgeEvent, toVerdict, type TraceEvent } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import { METRICS, STATS_CLIENT } from './tokens';

/** Deadline for one batch to be stored downstream. */
const STORE_DEADLINE_MS = 10_000;

function eventProblem(e: EdgeEvent): string | undefined {
  if (!e.id) return 'every event needs an id';
  if (!e.tenant || !e.message) return `event ${e.id}: tenant and message are required`;
  return undefined;
}

/** The ClassifierService gRPC handlers. */
@Injectable()
export class ClassifierApi {
  private readonly classified: Counter<'source'>;
  private readonly revisions: Counter;
  /** Message and campaign history of the ingest path, so later events can revise earlier verdicts. */
  private readonly history = new Classifier();
  /** The edge event behind each event the history holds (freed with it). */
  private readonly edgeOf = new WeakMap<TraceEvent, EdgeEvent>();

  constructor(
    @Inject(STATS_CLIENT) private readonly stats: ClientOf<typeof StatsService>,
    @Inject(METRICS) registry: Registry,
  ) {
    this.classified = new Counter({
      name: 'winnow_classifier_events_total',
      help: 'Events classified, by source',
      labelNames: ['source'],
      registers: [registry],
    });
    this.revisions = new Counter({
      name: 'winnow_classifier_revisions_total',
      help: 'Earlier verdicts changed by later evidence (sent to the statistics as new revisions)',
      registers: [registry],
    });
  }

  handlers(): ImplOf<typeof ClassifierService> {
    return {
      classify: async (req) => ({ verdicts: classifyEvents(req.events) }),
      ingest: async (requests, ctx) => {
        let received = 0;
        let stored = 0;
        let duplicates = 0;
        let revised = 0;
        for await (const batch of requests) {
          for (const e of batch.events) {
            const problem = eventProblem(e);
            if (problem) throw new WinnowError(ErrorCode.InvalidArgument, problem);
          }
          received += batch.events.length;
          const traces = batch.events.map(fromEdgeEvent);
          traces.forEach((t, i) => this.edgeOf.set(t, batch.events[i]!));
          const { verdicts, revised: changed } = this.history.classify(traces);
          for (const v of verdicts) this.classified.inc({ source: sourceName(v.decision.source as Source) });
          this.revisions.inc(changed.length);
          const events = verdicts.map((v) => ({ event: this.edgeOf.get(v.event)!, verdict: toVerdict(v) }));
          // A revision re-sends the event as first seen with its new verdict; stats keeps the higher revision.
          for (const r of changed) events.push({ event: this.edgeOf.get(r.event)!, verdict: toVerdict(r) });
          try {
            const r = await this.stats.recordEvents({ events }, { deadlineMs: STORE_DEADLINE_MS, signal: ctx.signal });
            stored += Number(r.stored);
            duplicates += Number(r.duplicates);
            revised += Number(r.revised);
          } catch (err) {
            // The collector keeps the batch and retries: nothing is acknowledged before it is stored.
            if (isRetryable(err)) throw new WinnowError(ErrorCode.Unavailable, `statistics unavailable: ${(err as Error).message}`);
            throw err;
          }
        }
        return { received: String(received), stored: String(stored), duplicates: String(duplicates), revised: String(revised) };
      },
    };
  }
}
