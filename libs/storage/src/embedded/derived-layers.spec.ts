import { describe, expect, it } from 'vitest';
import { DerivedLayer, visible, type JournalEntry, type Staged } from './derived-layers';
import type { CampaignCounters } from '@winnow/engagement';

const counters = (opens: number): CampaignCounters => ({ opens: [opens], clicks: [0], engaged: {} }) as unknown as CampaignCounters;
const entry = (opens: number): JournalEntry => ({ m: [], t: [], c: [[['acme', 'spring'], counters(opens)]], h: [] });
const chain = (s: Staged<CampaignCounters> | undefined) => {
  const seqs: number[] = [];
  for (let x = s; x; x = x.prev) seqs.push(x.seq);
  return seqs;
};

describe('a staged value and the values it replaced', () => {
  it('keeps what a reader outside the transaction may need, and nothing older than the newest committed value', () => {
    const layer = new DerivedLayer();
    for (let seq = 1; seq <= 5; seq++) layer.add(entry(seq * 10), seq, 0);
    const key = 'acme\u0000spring';
    expect(chain(layer.campaigns.get(key))).toEqual([5, 4, 3, 2, 1]);
    expect(visible(layer.campaigns.get(key), 0)).toBeUndefined();
    expect(visible(layer.campaigns.get(key), 3)?.value).toEqual(counters(30));
    // Entries up to 3 are now known committed: 2 and 1 are behind a committed value and go, even
    // though the newest (5) and 4 are not committed yet.
    layer.add(entry(60), 6, 3);
    expect(chain(layer.campaigns.get(key))).toEqual([6, 5, 4, 3]);
    expect(visible(layer.campaigns.get(key), Number.POSITIVE_INFINITY)?.value).toEqual(counters(60));
    // All committed: one value left.
    layer.add(entry(70), 7, 6);
    expect(chain(layer.campaigns.get(key))).toEqual([7, 6]);
    // A value whose own entry is known committed (the journal read back at opening) stands alone.
    layer.add(entry(80), 8, 8);
    expect(chain(layer.campaigns.get(key))).toEqual([8]);
  });
});
