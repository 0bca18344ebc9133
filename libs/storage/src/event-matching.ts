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

/** Checks an event is fit to store; returns a problem or undefined. */
export function eventProblem(e: ClassifiedEvent): string | undefined {
  if (!e.event || !e.verdict) return 'event and verdict are both required';
  const ev = e.event;
  if (!ev.id) return 'event id is required';
  if (!ev.tenant) return `event ${ev.id}: tenant is required`;
  if (!ev.message) return `event ${ev.id}: message is required`;
  if (ev.kind !== EventKind.OPEN && ev.kind !== EventKind.CLICK) return `event ${ev.id}: kind must be open or click`;
  if (!(Number(ev.atUnixMs) > 0)) return `event ${ev.id}: at_unix_ms must be positive`;
  if (e.verdict.source < Source.HUMAN || e.verdict.source > Source.BOT) return `event ${ev.id}: verdict source is required`;
  if (e.verdict.eventId !== ev.id) return `event ${ev.id}: verdict is for event ${e.verdict.eventId}`;
  return undefined;
}
