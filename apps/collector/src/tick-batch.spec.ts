import { describe, expect, it } from 'vitest';
import { TickBatch } from './tick-batch';

const nextTurn = () => new Promise<void>((ok) => setImmediate(ok));
const unexpected: unknown[] = [];
const notExpected = (err: unknown) => unexpected.push(err);

describe('TickBatch', () => {
  it('runs the work of one turn together at the next turn, in the order it came', async () => {
    const ran: string[] = [];
    const batch = new TickBatch();
    batch.add(() => ran.push('a'), notExpected);
    batch.add(() => ran.push('b'), notExpected);
    batch.add(() => ran.push('c'), notExpected);
    expect(ran).toEqual([]);
    expect(batch.pending).toBe(3);
    await nextTurn();
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(batch.pending).toBe(0);
    expect(unexpected).toEqual([]);
  });

  it('reports work that throws and runs the rest of the batch', async () => {
    const ran: string[] = [];
    const failures: unknown[] = [];
    const batch = new TickBatch();
    const failed = (err: unknown) => failures.push(err);
    batch.add(() => ran.push('a'), failed);
    batch.add(() => {
      throw new Error('bad request');
    }, failed);
    batch.add(() => ran.push('c'), failed);
    await nextTurn();
    expect(ran).toEqual(['a', 'c']);
    expect(failures).toHaveLength(1);
    expect((failures[0] as Error).message).toBe('bad request');
    // And it keeps working afterwards.
    batch.add(() => ran.push('d'), failed);
    await nextTurn();
    expect(ran).toEqual(['a', 'c', 'd']);
  });

  it('leaves work queued by the work itself to the next turn', async () => {
    const ran: string[] = [];
    const batch = new TickBatch();
    batch.add(() => {
      ran.push('first');
      batch.add(() => ran.push('queued by first'), notExpected);
    }, notExpected);
    await nextTurn();
    expect(ran).toEqual(['first']);
    expect(batch.pending).toBe(1);
    await nextTurn();
    expect(ran).toEqual(['first', 'queued by first']);
    expect(unexpected).toEqual([]);
  });
});
