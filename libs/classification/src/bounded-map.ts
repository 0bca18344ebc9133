/**
 * A map that holds at most `max` entries and, when full, forgets them all at once before taking the
 * next: for values that are only worth remembering (a shared copy, a hash computed before), where a
 * forgotten one costs its computation again and never a different result.
 */
export class BoundedMap<V> {
  private readonly held = new Map<string, V>();

  constructor(readonly max: number) {}

  get(key: string): V | undefined {
    return this.held.get(key);
  }

  /** Holds `value` under `key` (forgetting every entry first when full) and returns it. */
  remember(key: string, value: V): V {
    if (this.held.size >= this.max) this.held.clear();
    this.held.set(key, value);
    return value;
  }
}
