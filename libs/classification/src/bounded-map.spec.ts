import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map';

describe('BoundedMap', () => {
  it('holds at most max entries, forgetting all at once when full', () => {
    const m = new BoundedMap<number>(3);
    expect(m.remember('a', 1)).toBe(1);
    m.remember('b', 2);
    m.remember('c', 3);
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([1, 2, 3]);
    m.remember('d', 4);
    expect([m.get('a'), m.get('b'), m.get('c'), m.get('d')]).toEqual([undefined, undefined, undefined, 4]);
  });
});
