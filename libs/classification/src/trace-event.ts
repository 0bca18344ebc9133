import { EventKind, LinkRole, type EdgeEvent } from '@winnow/proto';

/** One request as the classifier sees it: the trace format of shared/traces/FORMAT.md, normalised. */
export interface TraceEvent {
  id: string;
  tenant: string;
  campaign: string;
  message: string;
  recipientDomain: string;
  /** ms since the epoch; 0 when unknown. */
  deliveredAtMs: number;
  links: number;
  kind: 'open' | 'click';
  link: number;
  linkRole: 'content' | 'honeypot' | 'unsubscribe';
  atMs: number;
  method: string;
  ip: string;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
}

const ROLES: Record<number, TraceEvent['linkRole']> = {
  [LinkRole.HONEYPOT]: 'honeypot',
  [LinkRole.UNSUBSCRIBE]: 'unsubscribe',
};

export function fromEdgeEvent(e: EdgeEvent): TraceEvent {
  return {
    id: e.id,
    tenant: e.tenant,
    campaign: e.campaign,
    message: e.message,
    recipientDomain: e.recipientDomain,
    deliveredAtMs: Number(e.deliveredAtUnixMs),
    links: e.links,
    kind: e.kind === EventKind.CLICK ? 'click' : 'open',
    link: e.linkIndex,
    linkRole: ROLES[e.linkRole] ?? 'content',
    atMs: Number(e.atUnixMs),
    method: e.method.toUpperCase(),
    ip: e.ip,
    headers: e.headers,
  };
}
