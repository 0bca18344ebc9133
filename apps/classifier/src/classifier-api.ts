import { Inject, Injectable } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { ErrorCode, WinnowError, isRetryable, useWireDecoder, useWireEncoder, type ClientOf, type ImplOf } from '@winnow/grpc';
import { IngestEventsRequestSchema, IngestRequestSchema, ProtoWriter, readIngestRequest, type ClassifiedEvent, type ClassifierService, type EdgeEvent, type StatsService } from '@winnow/proto';
import { addressKeyer, classifyEvents, evidenceOf, type AddressKeyer } from '@winnow/classification';
import type { ClassifierConfig } from '@winnow/config';
import { CLASSIFIER_CONFIG, METRICS, STATS_CLIENT } from './tokens';

/** Deadline for one batch to be classified and stored downstream. */
const STORE_DEADLINE_MS = 10_000;

// The batch handed to stats, once per collector batch, is written by the pipeline's own protobuf
// writer (byte for byte toBinary's output, about a tenth of its CPU: libs/proto/src/wire-writer.ts).
const writer = new ProtoWriter();
useWireEncoder(IngestEventsRequestSchema, (m) => (m.$unknown?.length ? undefined : writer.classifiedEventList(m.events)));
// And the collector's batches are read in one pass when their bytes are ordinary (wire-reader.ts).
useWireDecoder(IngestRequestSchema, readIngestRequest);

/**
 * The ClassifierService gRPC handlers. The classifier holds no history: on the ingest path it
 * turns each request into the evidence the rules need (network, keyed address, rule headers) and
 * hands it to the statistics service, which owns every message's history beside the store and
 * gives the verdicts (docs/architecture.md). Any number of replicas give the same verdicts.
 */
@Injectable()
export class ClassifierApi {
  private readonly derived: Counter;
  private readonly keyer: AddressKeyer;

  constructor(
    @Inject(STATS_CLIENT) private readonly stats: ClientOf<typeof StatsService>,
    @Inject(CLASSIFIER_CONFIG) config: ClassifierConfig,
    @Inject(METRICS) registry: Registry,
  ) {
    this.keyer = addressKeyer(config.addressKey);
    this.derived = new Counter({
      name: 'winnow_classifier_events_total',
      help: 'Events whose evidence was derived and handed to the statistics service',
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
          // Events the statistics service cannot take (no id, names too long, ...) it keeps as dead letters.
          const count = batch.events.length;
          received += count;
          const storing = this.forward(batch.events, ctx.signal);
          // The batch is in the call's bytes now. Letting its objects go before the wait (stats takes
          // about a tenth of a second) spares every young-generation collection in between copying
          // a thousand events (docs/architecture.md, "Session 20").
          batch.events = [];
          try {
            const r = await storing;
            this.derived.inc(count);
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

  /**
   * Hands a collector batch to stats as evidence and returns the call. Least data: past this point
   * the request is its evidence; the client address and the raw headers go no further
   * (docs/privacy.md).
   */
  private forward(batch: EdgeEvent[], signal: AbortSignal | undefined) {
    const events = batch.map((event) => {
      const evidence = evidenceOf(event, this.keyer);
      event.ip = '';
      event.headers = {};
      const classified: ClassifiedEvent = { $typeName: 'winnow.verdict.v1.ClassifiedEvent', event, evidence, verdict: undefined };
      return classified;
    });
    return this.stats.ingestEvents({ events }, { deadlineMs: STORE_DEADLINE_MS, signal });
  }
}
