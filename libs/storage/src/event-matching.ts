import { Actor, EventKind, Source, type ClassifiedEvent, type EventFilter } from '@winnow/proto';

/** Whether a stored event passes a listing filter (tenant is checked by the adapters' keys). */
export function matchesFilter(e: ClassifiedEvent, f: EventFilter): boolean {
  const ev = e.event!;
  const v = e.verdict!;
  if (f.campaign && ev.campaign !== f.campaign) return false;
  if (f.message && ev.message !== f.message) return false;
  if (f.actor !== Actor.UNSPECIFIED && v.actor !== f.actor) return false;
  if (f.source !== Source.UNSPECIFIED && v.source !== f.source) return false;
  if (f.kind !== EventKind.UNSPECIFIED && ev.kind !== f.kind) return false;
  const at = Number(ev.atUnixMs);
  if (Number(f.fromUnixMs) > 0 && at < Number(f.fromUnixMs)) return false;
  if (Number(f.toUnixMs) > 0 && at >= Number(f.toUnixMs)) return false;
  return true;
}

/** The earliest time an event or delivery may carry (2000-01-01): anything earlier is a unit or clock mistake. */
export const EARLIEST_MS = Date.UTC(2000, 0, 1);
/** The first time one may not carry (2100-01-01): later times break int64 and float round trips long before they mean anything. */
export const LATEST_MS = Date.UTC(2100, 0, 1);

/**
 * Why a tenant id cannot be stored, or undefined. Keys kept in memory and erasure tombstones join a
 * tenant id to the names after it with a NUL, so a tenant id holding one could reach another
 * tenant's records ("a\0b" + "c" against "a" + "b\0c"). Tracking domains allow only lower-case
 * letters, digits and dashes; this is the store's own guard, whatever the caller checked.
 */
export function tenantProblem(tenant: string): string | undefined {
  if (!tenant) return 'tenant is required';
  if (tenant.includes('\u0000')) return 'tenant must not contain a NUL character';
  return undefined;
}

/** Checks an event is fit to store; returns a problem or undefined. */
export function eventProblem(e: ClassifiedEvent): string | undefined {
  if (!e.event || !e.verdict) return 'event and verdict are both required';
  const ev = e.event;
  if (!ev.id) return 'event id is required';
  const tenant = tenantProblem(ev.tenant);
  if (tenant) return `event ${ev.id}: ${tenant}`;
  if (!ev.message) return `event ${ev.id}: message is required`;
  if (!ev.campaign) return `event ${ev.id}: campaign is required`;
  if (ev.kind !== EventKind.OPEN && ev.kind !== EventKind.CLICK) return `event ${ev.id}: kind must be open or click`;
  const at = Number(ev.atUnixMs);
  if (!(at >= EARLIEST_MS && at < LATEST_MS)) return `event ${ev.id}: at_unix_ms must be a time from 2000-01-01 to 2099-12-31 (got ${ev.atUnixMs})`;
  if (ev.linkIndex < 0) return `event ${ev.id}: link_index cannot be negative`;
  if (e.verdict.source < Source.HUMAN || e.verdict.source > Source.BOT) return `event ${ev.id}: verdict source is required`;
  if (e.verdict.eventId !== ev.id) return `event ${ev.id}: verdict is for event ${e.verdict.eventId}`;
  // Listings filter by actor and figures count by source: the two must agree.
  if ((e.verdict.actor === Actor.HUMAN) !== (e.verdict.source === Source.HUMAN) && e.verdict.actor !== Actor.UNSPECIFIED) {
    return `event ${ev.id}: verdict actor ${Actor[e.verdict.actor]} contradicts source ${Source[e.verdict.source]}`;
  }
  return undefined;
}
