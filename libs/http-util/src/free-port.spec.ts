import { describe, expect, it } from 'vitest';
import { freePort } from './free-port';

describe('freePort', () => {
  it('never hands out a port twice, though each is closed before its caller binds it', async () => {
    // The OS picks a closed port at random from its ephemeral range: 1,000 picks repeat some for sure.
    const ports: number[] = [];
    for (let i = 0; i < 1000; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
