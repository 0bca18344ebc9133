import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ClientOf } from '@winnow/grpc';
import type { ClassifierService, EdgeEvent } from '@winnow/proto';
import type { CollectorConfig } from '@winnow/config';
import { CollectorMetrics } from './collector.metrics';
import { CLASSIFIER_CLIENT, COLLECTOR_CONFIG } from './tokens';

/** Why an event never reached the store. Closed set: each is a metric label. */
export enum DropReason {
  QueueFull = 'queue_full',
  ShutdownTimeout = 'shutdown_timeout',
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 5000;
const SEND_DEADLINE_MS = 15_000;

/**
 * Batches edge events and hands them to the classifier over a client stream, one batch at a time
 * and in order. A batch leaves the queue only when the classifier acknowledged it as stored; on
 * failure it is retried with backoff (event ids make the retry idempotent downstream).
 */
@Injectable()
export class EventPipeline {
  private readonly log = new Logger('EventPipeline');
  private queue: EdgeEvent[] = [];
  private timer?: NodeJS.Timeout;
  private sending = false;
  private backoffMs = 0;
  private idle: Array<() => void> = [];

  constructor(
    @Inject(CLASSIFIER_CLIENT) private readonly classifier: ClientOf<typeof ClassifierService>,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly metrics: CollectorMetrics,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Queues an event; false (and counted) when the queue is full. */
  enqueue(event: EdgeEvent): boolean {
    if (this.queue.length >= this.config.queueMaxEvents) {
      this.metrics.dropped.inc({ reason: DropReason.QueueFull });
      return false;
    }
    this.queue.push(event);
    this.metrics.events.inc({ state: 'accepted' });
    this.metrics.queueDepth.set(this.queue.length);
    if (this.queue.length >= this.config.batchMaxEvents) this.kick(0);
    else if (!this.timer) this.kick(this.config.batchMaxDelayMs);
    return true;
  }

  private kick(delayMs: number): void {
    if (this.sending) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendNext();
    }, delayMs);
  }

  private async sendNext(): Promise<void> {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.slice(0, this.config.batchMaxEvents);
    try {
      await this.classifier.ingest([{ events: batch }], { deadlineMs: SEND_DEADLINE_MS });
      this.queue.splice(0, batch.length);
      this.metrics.events.inc({ state: 'sent' }, batch.length);
      this.metrics.queueDepth.set(this.queue.length);
      this.backoffMs = 0;
    } catch (err) {
      this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.backoffMs * 2));
      this.log.warn({ msg: 'downstream refused a batch; will retry', events: batch.length, retryInMs: this.backoffMs, err: (err as Error).message });
    } finally {
      this.sending = false;
    }
    if (this.queue.length === 0) {
      for (const done of this.idle.splice(0)) done();
    } else {
      this.kick(this.backoffMs > 0 ? this.backoffMs : this.queue.length >= this.config.batchMaxEvents ? 0 : this.config.batchMaxDelayMs);
    }
  }

  /** Sends what is queued, waiting up to timeoutMs; returns how many events are left unsent. */
  async drain(timeoutMs: number): Promise<number> {
    if (this.queue.length > 0) {
      this.kick(0);
      await Promise.race([new Promise<void>((ok) => this.idle.push(ok)), new Promise((ok) => setTimeout(ok, timeoutMs).unref())]);
    }
    clearTimeout(this.timer);
    const left = this.queue.length;
    if (left > 0) {
      this.metrics.dropped.inc({ reason: DropReason.ShutdownTimeout }, left);
      this.log.error({ msg: 'events not delivered before shutdown', events: left });
    }
    return left;
  }
}
