import { describe, expect, it } from 'vitest';
import { Source } from '@winnow/proto';
import { FINALIZER } from './tracking-domain.decision';
import { decideSuppressionSetting, type SuppressionSettingResource } from './suppression-setting.decision';

const NOW = '2026-11-22T12:00:00Z';
const ss = (over: Partial<SuppressionSettingResource> = {}): SuppressionSettingResource => ({
  name: 'nw',
  uid: 'u1',
  generation: 1,
  creationTimestamp: '2026-01-01T00:00:00Z',
  finalizers: [FINALIZER],
  spec: { tenant: 'northwind' },
  ...over,
});

describe('decideSuppressionSetting', () => {
  it('pushes the default when nothing is said', () => {
    const a = decideSuppressionSetting(ss(), [ss()], NOW);
    expect(a[0]).toEqual({ kind: 'pushPolicy', policy: { tenant: 'northwind', opens: { allAutomated: true, sources: [] }, clicks: { allAutomated: true, sources: [] } } });
    expect(a[1]).toMatchObject({ kind: 'writeStatus', status: { conditions: [{ type: 'Ready', status: 'True', reason: 'PolicyApplied' }] } });
  });

  it('maps sources and None', () => {
    const r = ss({ spec: { tenant: 'northwind', opens: { mode: 'Sources', sources: ['apple_mpp', 'bot'] }, clicks: { mode: 'None' } } });
    expect(decideSuppressionSetting(r, [r], NOW)[0]).toEqual({
      kind: 'pushPolicy',
      policy: { tenant: 'northwind', opens: { allAutomated: false, sources: [Source.APPLE_MPP, Source.BOT] }, clicks: { allAutomated: false, sources: [] } },
    });
  });

  it('lets the oldest setting of a tenant win', () => {
    const old = ss({ name: 'first', uid: 'u0', creationTimestamp: '2025-01-01T00:00:00Z' });
    const a = decideSuppressionSetting(ss(), [old, ss()], NOW);
    expect(a.map((x) => x.kind)).toEqual(['writeStatus']);
    expect(a[0]).toMatchObject({ status: { conditions: [{ status: 'False', reason: 'DuplicateTenant' }] } });
  });

  it('refuses a spec the schema would have caught', () => {
    const r = ss({ spec: { tenant: 'northwind', clicks: { mode: 'Sources', sources: ['human'] } } });
    expect(decideSuppressionSetting(r, [r], NOW)).toMatchObject([{ kind: 'writeStatus', status: { conditions: [{ reason: 'InvalidSpec' }] } }]);
  });

  it('on deletion restores the default, unless another setting of the tenant takes over', () => {
    const gone = ss({ deletionTimestamp: NOW });
    expect(decideSuppressionSetting(gone, [gone], NOW).map((x) => x.kind)).toEqual(['pushPolicy', 'removeFinalizer']);
    const next = ss({ name: 'next', uid: 'u2', creationTimestamp: '2026-05-01T00:00:00Z' });
    expect(decideSuppressionSetting(gone, [gone, next], NOW).map((x) => x.kind)).toEqual(['removeFinalizer']);
    expect(decideSuppressionSetting(ss({ finalizers: [] }), [ss()], NOW)[0]).toEqual({ kind: 'addFinalizer' });
  });

  it('writes status only when it changed', () => {
    const first = decideSuppressionSetting(ss(), [ss()], NOW).find((x) => x.kind === 'writeStatus')!;
    const again = decideSuppressionSetting(ss({ status: first.kind === 'writeStatus' ? first.status : {} }), [ss()], NOW);
    expect(again.map((x) => x.kind)).toEqual(['pushPolicy']);
  });
});
