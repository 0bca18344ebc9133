import { describe, expect, it } from 'vitest';
import { covers } from './conditions';

describe('covers: what was read back says everything that was sent', () => {
  const sent = { parentRefs: [{ name: 'public', namespace: 'edge' }], hostnames: ['a.example'], rules: [{ backendRefs: [{ name: 'c', port: 80 }] }] };
  it.each([
    ['the same object', sent, true],
    ['server defaults added', { parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', namespace: 'edge' }], hostnames: ['a.example'], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ group: '', kind: 'Service', name: 'c', port: 80, weight: 1 }] }] }, true],
    ['a value changed', { ...sent, hostnames: ['b.example'] }, false],
    ['an array item more', { ...sent, hostnames: ['a.example', 'b.example'] }, false],
    ['a key missing', { hostnames: ['a.example'], rules: sent.rules }, false],
    ['an object where a scalar was', { ...sent, hostnames: [{ name: 'a.example' }] }, false],
    ['nothing', undefined, false],
  ] as const)('%s', (_name, read, expected) => {
    expect(covers(read, sent)).toBe(expected);
  });
});
