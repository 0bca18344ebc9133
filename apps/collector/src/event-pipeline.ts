import { Inject, Injectable, Logger } from '@nestjs/common';
import { ErrorCode, WinnowError, bearer, sendEncodedClientStream, type ClientOf } from '@winnow/grpc';
import { ClassifierService, writeVarint } from '@winnow/proto';
import type { CollectorConfig } from '@winnow/config';
import { CollectorMetrics } from './collector.metrics';
import { Spool, type SpoolRecord } from './spool/spool';
import { CLASSIFIER_CLIENT, COLLECTOR_CONFIG } from './tokens';

/** Why an event never reached the store. Closed set: each is a metric label. */
export enum DropReason {
  /** The spool reached WINNOW_SPOOL_MAX_BYTES while downstream was away. */
  SpoolFull = 'spool_full',
  /** The spool could not be written (disk error). */
  SpoolError = 'spool_error',
  /** Downstream refused the event as invalid; retrying would never succeed. */
  Rejected = 'rejected',
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 5000;
const SEND_DEADLINE_MS = 15_000;
const INGEST = ClassifierService.method.ingest;

/**
 * One IngestRequest on the wire, built from spooled EdgeEvent bytes without decoding them: field 1
 * (repeated EdgeEvent), length-delimited, once per record, written into one buffer.
 */
function ingestRequest(records: readonly SpoolRecord[]): Buffer {
  let most = 0;
  for (const r of records) most += 1 + 5 + r.payload.length; // a record's length is < 2^32: 5 varint bytes at most
  const out = Buffer.allocUnsafe(most);
  let pos = 0;
  for (const r of records) {
    out[pos++] = 0x0a;
    pos = writeVarint(out, pos, r.payload.length);
    pos += r.payload.copy(out, pos);
  }
  return out.subarray(0, pos);
}

/**
 * Captures every accepted event in the spool (see spool.ts), then hands the spool's records to
 * the classifier in order, in batches, over the Ingest stream. A record is acknowledged (and may
 * be deleted) only after the classifier answered that it is stored. While downstream is away the
 * collector keeps answering and the records wait on disk; they are replayed in order when it
 * returns, and after a restart. Event ids are assigned at the edge, so a replay of something
 * already stored is recognised downstream and not counted twice.
 */
@Injectable()
export class EventPipeline {
  private readonly log = new Logger('EventPipeline');
  private readonly spool: Spool;
  private stopping = false;
  private loop?: Promise<void>;
  private downstreamDown = false;
  private recoveredUpTo = 0;
  private full = false;
  private readonly auth: Record<string, string>;

  constructor(
    @Inject(CLASSIFIER_CLIENT) private readonly classifier: ClientOf<typeof ClassifierService>,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly metrics: CollectorMetrics,
  ) {
    // Every group commit is synced whatever WINNOW_CAPTURE_SYNC says: that setting only decides
    // whether the answer waits for it (capture() below).
    this.spool = new Spool({ dir: config.spoolDir, segmentBytes: config.spoolSegmentBytes, maxBytes: config.spoolMaxBytes, sync: true });
    metrics.observeSpool(() => ({ depth: this.spool.depth, bytes: this.spool.bytes, zeroFailures: this.spool.zeroFailures }));
    this.auth = bearer(config.serviceKey);
  }

  /** Opens the spool (repairing a torn tail) and starts sending. */
  start(): void {
    const report = this.spool.open();
    this.recoveredUpTo = this.spool.lastWrittenSeq;
    if (report.pending > 0 || report.truncatedBytes > 0) {
      this.log.warn({ msg: 'spool recovered', pendingEvents: report.pending, truncatedBytes: report.truncatedBytes, dir: this.config.spoolDir });
    }
    this.loop = this.run();
  }

  /** Events captured and not yet stored downstream. */
  get depth(): number {
    return this.spool.depth;
  }

  /**
   * Captures an encoded EdgeEvent and calls `done` once it is on disk (fsynced when
   * WINNOW_CAPTURE_SYNC is on; at once when it is off). Never fails: an event that cannot be
   * captured is counted as dropped with its reason, and `done` is still called.
   */
  capture(event: Uint8Array, done: () => void): void {
    const sync = this.config.captureSync;
    const seq = this.spool.appendThen(event, (err) => {
      if (err) {
        this.metrics.dropped.inc({ reason: DropReason.SpoolError });
        this.log.error({ msg: 'could not write the spool', err: err.message });
      }
      if (sync) done();
    });
    if (seq === 0) {
      this.metrics.dropped.inc({ reason: DropReason.SpoolFull });
      if (!this.full) {
        this.full = true;
        this.log.error({ msg: 'spool is full: events are being dropped until downstream catches up', maxBytes: this.config.spoolMaxBytes, dir: this.config.spoolDir });
      }
      done();
      return;
    }
    if (this.full) {
      this.full = false;
      this.log.log({ msg: 'spool has room again' });
    }
    this.metrics.accepted.inc();
    if (this.downstreamDown) this.metrics.spooled.inc();
    if (!sync) this.answerSoon(done);
  }

  private answerable: Array<() => void> = [];

  /**
   * Without durable capture the answer need not wait for the disk, but it still goes out with the
   * others of the same event-loop turn, after every request read in that turn: answers written in
   * one burst cost the collector and its clients fewer wake-ups than one at a time (bench:collector
   * with WINNOW_CAPTURE_SYNC=false: ~7,400 req/s answering in the handler, see docs/collector.md).
   */
  private answerSoon(done: () => void): void {
    if (this.answerable.push(done) > 1) return;
    setImmediate(() => {
      const now = this.answerable;
      this.answerable = [];
      for (const answer of now) answer();
    });
  }

  /**
   * Keeps up to `batchesInFlight` batches on their way downstream, so the classifier and stats
   * work on one while the next travels (with one at a time each stage waited for the others:
   * docs/architecture.md, "Throughput end to end"). Answers are taken in spool order: a batch is
   * acknowledged only when it and every batch before it are stored, so the spool's checkpoint never
   * passes an event that is not. A batch that failed is sent again when it is the oldest; later
   * batches that were stored meanwhile are recognised by their event ids if they come again
   * after a restart, so nothing is counted twice.
   */
  private async run(): Promise<void> {
    let backoff = 0;
    const window: Array<{ batch: SpoolRecord[]; outcome: Promise<unknown>; sentAt: number }> = [];
    // When a batch was last acknowledged: a later batch that failed before then failed with the
    // trouble that batch got past, and is sent again at once rather than taken for an outage.
    let lastAckAt = 0;
    let lastRead = this.spool.lastWrittenSeq - this.spool.depth;
    const settle = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err ?? new Error('send failed'));
    while (!this.stopping || window.length > 0) {
      // Read the next batch when none is out; read ahead while there is room and downstream answers.
      while (!this.stopping && (window.length === 0 || (!this.downstreamDown && window.length < this.config.batchesInFlight))) {
        if (window.length === 0) {
          await this.spool.waitForRecordsAfter(lastRead, 200);
          if (this.stopping && this.spool.lastWrittenSeq <= lastRead) break;
          if (this.spool.lastWrittenSeq - lastRead < this.config.batchMaxEvents && !this.stopping) {
            await sleep(this.config.batchMaxDelayMs);
          }
        } else if (this.spool.lastWrittenSeq - lastRead < this.config.batchMaxEvents) {
          // A second batch goes only when a full one is waiting: a part batch waits for the oldest.
          break;
        }
        const batch = await this.spool.read(this.config.batchMaxEvents, this.config.batchMaxBytes);
        if (batch.length === 0) break;
        lastRead = batch[batch.length - 1]!.seq;
        window.push({ batch, outcome: settle(this.send(batch)), sentAt: Date.now() });
      }
      const head = window[0];
      if (!head) {
        if (this.stopping) break;
        continue;
      }
      // Wait for the oldest answer, or for a full batch to send beside it while there is room.
      const more = window.length < this.config.batchesInFlight && !this.downstreamDown && !this.stopping;
      const next = more ? this.spool.waitForRecordsAfter(lastRead + this.config.batchMaxEvents - 1, 200).then(() => MORE) : undefined;
      const err = next ? await Promise.race([head.outcome, next]) : await head.outcome;
      if (err === MORE) continue;
      if (err === undefined) {
        window.shift();
        this.spool.ack(head.batch[head.batch.length - 1]!.seq);
        lastAckAt = Date.now();
        const replayed = head.batch.filter((r) => r.seq <= this.recoveredUpTo).length;
        this.metrics.sent.inc(head.batch.length);
        if (replayed > 0) this.metrics.replayed.inc(replayed);
        if (this.downstreamDown) this.log.log({ msg: 'downstream is back; sending spooled events', pending: this.spool.depth });
        this.downstreamDown = false;
        backoff = 0;
        continue;
      }
      if (isRejection(err)) {
        window.shift();
        // Stopped half-way: the rest of this batch is not stored, so nothing after it may be acknowledged.
        if (!(await this.sendOneByOne(head.batch))) break;
        lastAckAt = Date.now();
        this.downstreamDown = false;
        continue;
      }
      if (head.sentAt < lastAckAt) {
        head.sentAt = Date.now();
        head.outcome = settle(this.send(head.batch));
        continue;
      }
      if (!this.downstreamDown) this.log.warn({ msg: 'downstream unavailable; events wait in the spool', err: (err as Error).message });
      this.downstreamDown = true;
      backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, backoff * 2));
      await sleep(backoff, () => this.stopping);
      if (this.stopping) break;
      head.sentAt = Date.now();
      head.outcome = settle(this.send(head.batch));
    }
  }

  private send(records: readonly SpoolRecord[]): Promise<unknown> {
    return sendEncodedClientStream(this.classifier, INGEST, [ingestRequest(records)], { deadlineMs: SEND_DEADLINE_MS, metadata: this.auth });
  }

  /** A batch refused as invalid: find the bad events, drop only those, keep order for the rest. */
  /** Whether every record was stored or dropped (false: stopped before the end). */
  private async sendOneByOne(batch: readonly SpoolRecord[]): Promise<boolean> {
    for (const r of batch) {
      for (;;) {
        try {
          await this.send([r]);
          this.metrics.sent.inc();
          break;
        } catch (err) {
          if (!isRejection(err)) {
            await sleep(MAX_BACKOFF_MS, () => this.stopping);
            if (this.stopping) return false;
            continue;
          }
          this.metrics.dropped.inc({ reason: DropReason.Rejected });
          this.log.error({ msg: 'downstream rejected an event; dropped', seq: r.seq, err: err instanceof WinnowError && err.code === ErrorCode.InvalidArgument ? err.message : String(err) });
          break;
        }
      }
      this.spool.ack(r.seq);
    }
    return true;
  }

  /**
   * Stops after sending what it can within timeoutMs. Whatever is left stays in the spool and is
   * sent by the next start. Returns how many events are left.
   */
  async drain(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (this.spool.depth > 0 && Date.now() < until && !this.downstreamDown) await sleep(20);
    this.stopping = true;
    await this.loop;
    await this.spool.close();
    const left = this.spool.depth;
    if (left > 0) this.log.warn({ msg: 'events stay in the spool for the next start', events: left, dir: this.config.spoolDir });
    return left;
  }
}

/**
 * Only a request refused as malformed drops anything (one event at a time, found by sending them
 * singly): downstream keeps events it cannot take as dead letters, so this is a spool record that
 * no longer decodes. Every other failure (unavailable, a deadline, a refused key, an internal
 * error) is retried with backoff: a misconfiguration stalls the spool, it never empties it.
 */
function isRejection(err: unknown): boolean {
  return err instanceof WinnowError && err.code === ErrorCode.InvalidArgument;
}

/** What the wait in run() returns when a full batch can go before the oldest is answered. */
const MORE = Symbol('more');

function sleep(ms: number, cancelled?: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (!cancelled) {
      setTimeout(resolve, ms);
      return;
    }
    const until = Date.now() + ms;
    const tick = () => (cancelled() || Date.now() >= until ? resolve() : setTimeout(tick, Math.min(50, until - Date.now())));
    tick();
  });
}
