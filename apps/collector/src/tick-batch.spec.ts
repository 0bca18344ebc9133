import { describe, expect, it } from 'vitest';
import { TickBatch } from './tick-batch';

const nextTurn = () => new Promise<void>((ok) => setImmediate(ok));

describe('TickBatch', () => {
  it('runs the work of one turn together at the next turn, in the order it came', async () => {
    const ran: string[] = [];
    const batch = new TickBatch(() => undefined);
    batch.add(() => ran.push('a'));
    batch.add(() => ran.push('b'));
    batch.add(() => ran.push('c'));
    expect(ran).toEqual([]);
    expect(batch.pending).toBe(3);
    await nextTurn();
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(batch.pending).toBe(0);
  });

  it('reports work that throws and runs the rest of the batch', async () => {
    const ran: string[] = [];
    const failures: unknown[] = [];
    const batch = new TickBatch((err) => failures.push(err));
    batch.add(() => ran.push('a'));
    batch.add(() => {
      throw new Error('bad request');
    });
    batch.add(() => ran.push('c'));
    await nextTurn();
    expect(ran).toEqual(['a', 'c']);
    expect(failures).toHaveLength(1);
    expect((failures[0] as Error).message).toBe('bad request');
    // And it keeps working afterwards.
    batch.add(() => ran.push('d'));
    await nextTurn();
    expect(ran).toEqual(['a', 'c', 'd']);
  });

  it('leaves work queued by the work itself to the next turn', async () => {
    const ran: string[] = [];
    const batch = new TickBatch(() => undefined);
    batch.add(() => {
      ran.push('first');
      batch.add(() => ran.push('queued by first'));
    });
    await nextTurn();
    expect(ran).toEqual(['first']);
    expect(batch.pending).toBe(1);
    await nextTurn();
    expect(ran).toEqual(['first', 'queued by first']);
  });
});
