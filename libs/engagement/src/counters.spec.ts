import { describe, expect, it } from 'vitest';
import { EventKind, PolicyMode, Source, SuppressionPolicySchema } from '@winnow/proto';
import { create } from '@bufbuild/protobuf';
import { addDelta, applyMoves, emptyCampaign, emptyMessage, figures, isCountable, movesFor, type CampaignCounters, type MessageEngagement } from './counters';
import { countingMask } from './policy';

/** Replays (message, kind, method, source) events through the pure counter maths. */
function load(events: Array<[string, EventKind, string, Source]>, delivered: number) {
  const messages = new Map<string, MessageEngagement>();
  let c: CampaignCounters = { ...emptyCampaign(), delivered };
  for (const [msg, kind, method, source] of events) {
    const { message, delta } = applyMoves(messages.get(msg) ?? emptyMessage(), movesFor(kind, isCountable(method), undefined, source));
    messages.set(msg, message);
    c = addDelta(c, delta);
  }
  return { c, messages };
}

const O = EventKind.OPEN;
const C = EventKind.CLICK;

describe('campaign figures', () => {
  const events: Array<[string, EventKind, string, Source]> = [
    ['m1', O, 'GET', Source.APPLE_MPP],
    ['m1', O, 'GET', Source.APPLE_MPP],
    ['m2', O, 'GET', Source.HUMAN],
    ['m2', C, 'GET', Source.HUMAN],
    ['m3', C, 'GET', Source.SECURITY_SCANNER],
    ['m3', C, 'HEAD', Source.SECURITY_SCANNER],
    ['m3', C, 'GET', Source.HUMAN],
    ['m4', C, 'GET', Source.SECURITY_SCANNER],
  ];

  it('counts people only by default and everything when asked', () => {
    const { c } = load(events, 10);
    const dflt = figures(c, countingMask(undefined));
    expect(dflt).toMatchObject({ opens: 1, uniqueOpens: 2, clicks: 2, uniqueClicks: 2 });
    expect(dflt.openRate).toBeCloseTo(0.2);
    expect(dflt.clickToOpenRate).toBeCloseTo(1);
    const all = figures(c, countingMask(undefined, PolicyMode.INCLUDE_AUTOMATED));
    // HEAD is kept on record but never counted.
    expect(all).toMatchObject({ opens: 3, uniqueOpens: 4, clicks: 4, uniqueClicks: 3 });
  });

  it('follows a per-source policy chosen after the fact', () => {
    const { c } = load(events, 10);
    const policy = create(SuppressionPolicySchema, {
      opens: { allAutomated: true },
      clicks: { allAutomated: false, sources: [Source.APPLE_MPP] },
    });
    expect(figures(c, countingMask(policy))).toMatchObject({ opens: 1, clicks: 4, uniqueClicks: 3 });
  });

  it('moves a revised verdict between sources exactly', () => {
    const { c, messages } = load(events, 10);
    // m3's scanner GET turns out to be human after all: m3 is still one unique human clicker.
    const { delta } = applyMoves(messages.get('m3')!, movesFor(C, true, Source.SECURITY_SCANNER, Source.HUMAN));
    const after = addDelta(c, delta);
    expect(figures(after, countingMask(undefined))).toMatchObject({ clicks: 3, uniqueClicks: 2 });
    // m4's only click withdrawn to bot: no unique change under default, one fewer scanner.
    expect(figures(after, { opens: 0, clicks: 1 << (Source.SECURITY_SCANNER - 1) })).toMatchObject({ clicks: 1, uniqueClicks: 1 });
  });

  it('never counts HEAD, OPTIONS or declared prefetches', () => {
    expect(isCountable('GET', { 'user-agent': 'x' })).toBe(true);
    expect(isCountable('HEAD')).toBe(false);
    expect(isCountable('OPTIONS')).toBe(false);
    expect(isCountable('GET', { 'sec-purpose': 'prefetch;anonymous-client-ip' })).toBe(false);
    expect(isCountable('GET', { purpose: 'prefetch' })).toBe(false);
    expect(isCountable('GET', { 'x-moz': 'prefetch' })).toBe(false);
  });

  it('refuses to count below zero', () => {
    expect(() => applyMoves(emptyMessage(), movesFor(O, true, Source.HUMAN, Source.BOT))).toThrow(RangeError);
  });
});
