import { create } from '@bufbuild/protobuf';
import { EdgeEventSchema, EventKind, LinkRole, PathKind, type EdgeEvent } from '@winnow/proto';
import type { TraceEvent } from '@winnow/classification';

const ROLE = { content: LinkRole.CONTENT, honeypot: LinkRole.HONEYPOT, unsubscribe: LinkRole.UNSUBSCRIBE };

/** The edge event a collector would have captured for a trace line (its recorded time and address). */
export function edgeEventOf(t: TraceEvent): EdgeEvent {
  return create(EdgeEventSchema, {
    id: t.id,
    tenant: t.tenant,
    campaign: t.campaign,
    message: t.message,
    kind: t.kind === 'click' ? EventKind.CLICK : EventKind.OPEN,
    linkIndex: t.link,
    linkRole: ROLE[t.linkRole],
    method: t.method,
    pathKind: t.kind === 'click' ? PathKind.CLICK : PathKind.PIXEL,
    ip: t.ip,
    headers: { ...t.headers },
    atUnixMs: String(t.atMs),
    deliveredAtUnixMs: String(t.deliveredAtMs),
    links: t.links,
    recipientDomain: t.recipientDomain,
  });
}
