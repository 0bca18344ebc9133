import { create } from '@bufbuild/protobuf';
import { EventFilterSchema, EventKind, LinkRole, Source, type ClassifiedEvent } from '@winnow/proto';
import { AUTOMATED_SOURCES, isCountable, sourceBit, type CountingMask } from '@winnow/engagement';
import type { EventStore } from '@winnow/storage';

const PAGE = 1000;

interface Tally {
  clicks: number;
  clickers: Set<string>;
}
const tally = (): Tally => ({ clicks: 0, clickers: new Set() });
const add = (t: Tally, message: string) => {
  t.clicks++;
  t.clickers.add(message);
};

interface LinkTally {
  link: number;
  role: LinkRole;
  reported: Tally;
  human: Tally;
  automated: Tally;
  bySource: Map<Source, number>;
}

/**
 * Clicks and unique clickers per link of a campaign under a counting mask, read from its stored
 * click events (their newest verdicts). Counted as the campaign's counters count: a GET that is not a
 * declared prefetch. The hidden trap link is left out; the unsubscribe link is reported apart.
 */
export async function linkStats(store: EventStore, tenant: string, campaign: string, mask: CountingMask) {
  const links = new Map<number, LinkTally>();
  const unsubscribe = tally();
  const content = tally();
  let read = 0;
  let token = '';
  do {
    const page = await store.listEvents(create(EventFilterSchema, { tenant, campaign, kind: EventKind.CLICK }), PAGE, token);
    for (const e of page.events as ClassifiedEvent[]) {
      read++;
      const ev = e.event!;
      if (ev.linkRole === LinkRole.HONEYPOT || !isCountable(ev.method, e.evidence?.headers ?? ev.headers)) continue;
      const source = e.verdict?.source ?? Source.UNSPECIFIED;
      let l = links.get(ev.linkIndex);
      if (!l) links.set(ev.linkIndex, (l = { link: ev.linkIndex, role: ev.linkRole, reported: tally(), human: tally(), automated: tally(), bySource: new Map() }));
      if (source === Source.HUMAN) add(l.human, ev.message);
      else {
        add(l.automated, ev.message);
        l.bySource.set(source, (l.bySource.get(source) ?? 0) + 1);
      }
      if (sourceBit(source) & mask.clicks) {
        add(l.reported, ev.message);
        add(ev.linkRole === LinkRole.UNSUBSCRIBE ? unsubscribe : content, ev.message);
      }
    }
    token = page.nextPageToken;
  } while (token);
  return {
    links: [...links.values()]
      .sort((a, b) => a.link - b.link)
      .map((l) => ({
        link: l.link,
        role: l.role,
        clicks: String(l.reported.clicks),
        uniqueClickers: String(l.reported.clickers.size),
        humanClicks: String(l.human.clicks),
        humanUniqueClickers: String(l.human.clickers.size),
        automatedClicks: String(l.automated.clicks),
        automatedUniqueClickers: String(l.automated.clickers.size),
        automatedBySource: AUTOMATED_SOURCES.filter((s) => l.bySource.has(s)).map((s) => ({ source: s, count: String(l.bySource.get(s)) })),
      })),
    unsubscribeClicks: String(unsubscribe.clicks),
    unsubscribeUniqueClickers: String(unsubscribe.clickers.size),
    contentClicks: String(content.clicks),
    contentUniqueClickers: String(content.clickers.size),
    eventsRead: String(read),
  };
}
