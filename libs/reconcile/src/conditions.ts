/** A Kubernetes status condition (metav1.Condition). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * The conditions after setting `next` ones at `generation`: lastTransitionTime changes only when a
 * condition's status flips; other conditions are kept; order is stable (by type).
 */
export function setConditions(existing: readonly Condition[], next: readonly ConditionInput[], generation: number, now: string): Condition[] {
  const byType = new Map(existing.map((c) => [c.type, c]));
  for (const n of next) {
    const old = byType.get(n.type);
    byType.set(n.type, {
      ...n,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === n.status ? old.lastTransitionTime : now,
    });
  }
  return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
}

/** Deep equality of plain JSON values (status objects), key order ignored. */
/**
 * Whether `actual` says everything `desired` says: the same scalars, arrays of the same length,
 * and at least the desired keys of every object. An API server fills in defaults (an HTTPRoute's
 * `parentRefs[].kind`, a backend's `weight`), so the object read back is a superset of the one sent.
 */
export function covers(actual: unknown, desired: unknown): boolean {
  if (desired === undefined || actual === desired) return true;
  if (desired === null || typeof desired !== 'object') return false;
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual) !== Array.isArray(desired)) return false;
  if (Array.isArray(desired)) return (actual as unknown[]).length === desired.length && desired.every((x, i) => covers((actual as unknown[])[i], x));
  return Object.entries(desired).every(([k, v]) => covers((actual as Record<string, unknown>)[k], v));
}

export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => sameJson(x, (b as unknown[])[i]));
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
