import { Inject, Injectable } from '@nestjs/common';
import { EventKind, PathKind, type TokenPayload } from '@winnow/proto';
import { TokenRejection, tryOpenToken } from '@winnow/tokens';
import type { CollectorConfig } from '@winnow/config';
import { CollectorMetrics } from './collector.metrics';
import { DomainRegistry } from './domain-registry';
import { edgeEvent, redirectTarget, type TrackingRoute } from './edge-request';
import { encodeEdgeEvent } from '@winnow/proto';
import { EventPipeline } from './event-pipeline';
import { COLLECTOR_CONFIG } from './tokens';

/** What to answer a tracking request with. The HTTP adapter maps each to a response. */
export type Outcome =
  | { kind: 'pixel' }
  | { kind: 'redirect'; location: string }
  | { kind: 'options' }
  | { kind: 'not_found' };

const PIXEL: Outcome = { kind: 'pixel' };
const OPTIONS: Outcome = { kind: 'options' };
const NOT_FOUND: Outcome = { kind: 'not_found' };

/** The methods the tracking paths answer and record; others get 405 and nothing is recorded. */
export const TRACKED_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SeenRequest {
  host: string | undefined;
  method: string;
  ip: string;
  headers: Record<string, string>;
  atMs: number;
}

export const routeName = (route: TrackingRoute) => (route.kind === PathKind.PIXEL ? 'pixel' : 'click');

/**
 * Decides what a tracking request means: which tenant (by host), whether its token is genuine,
 * and records the event. A bad pixel token still gets the GIF (mail keeps rendering); a bad link
 * token gets a 404, never a redirect.
 */
@Injectable()
export class TrackingService {
  private readonly maxAgeS: number;

  constructor(
    private readonly domains: DomainRegistry,
    private readonly pipeline: EventPipeline,
    private readonly metrics: CollectorMetrics,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {
    this.maxAgeS = config.tokenMaxAgeDays * 86_400;
  }

  /**
   * Decides what to answer and calls `answer` once with it: at once for a request that records
   * nothing, and for a genuine token only once its event is durable.
   */
  track(route: TrackingRoute, req: SeenRequest, answer: (outcome: Outcome) => void): void {
    const domain = this.domains.resolve(req.host);
    if (!domain) return answer(NOT_FOUND);
    const opened = tryOpenToken(domain.keyring, route.token, { tenant: domain.tenant, nowS: Math.floor(req.atMs / 1000), maxAgeS: this.maxAgeS });
    // A link's target is parsed once: the check that it is a safe redirect gives the Location too.
    const location = opened.ok && route.kind === PathKind.CLICK ? redirectTarget(opened.payload.targetUrl) : undefined;
    const refusal = opened.ok ? misuse(route, opened.payload, location) : opened.reason;
    if (refusal !== undefined || !opened.ok) {
      this.metrics.tokenRejected(routeName(route), refusal!);
      return answer(route.kind === PathKind.PIXEL && req.method !== 'OPTIONS' ? PIXEL : NOT_FOUND);
    }
    const payload = opened.payload;
    const outcome: Outcome = req.method === 'OPTIONS' ? OPTIONS : route.kind === PathKind.PIXEL ? PIXEL : { kind: 'redirect', location: location! };
    this.pipeline.capture(encodeEdgeEvent(edgeEvent(payload, route, req.method, req.ip, req.headers, req.atMs)), () => answer(outcome));
  }
}

/** A genuine token used where it does not belong (`location`: the link's target as redirectTarget gives it). */
function misuse(route: TrackingRoute, payload: TokenPayload, location: string | undefined): TokenRejection | undefined {
  const expected = route.kind === PathKind.PIXEL ? EventKind.OPEN : EventKind.CLICK;
  if (payload.kind !== expected) return TokenRejection.WrongKind;
  if (route.kind === PathKind.CLICK && location === undefined) return TokenRejection.BadTarget;
  return undefined;
}
