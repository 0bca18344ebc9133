import { sourceName } from '@winnow/engagement';
import { LinkRole, PolicyMode, Source, type CampaignStats, type Figures, type GetLinkStatsResponse, type TimeSeries } from '@winnow/proto';

/** Everything a campaign report shows, read from the API. */
export interface ReportData {
  stats: CampaignStats;
  series: TimeSeries;
  /** Hour or day buckets. */
  bucketMs: number;
  links: GetLinkStatsResponse;
  /** Automated verdicts by the evidence that decided them (the verdict's first reason), most first. */
  evidence: Array<{ reason: string; source: Source; events: number }>;
  /** Stored events read for the evidence mix. */
  eventsRead: number;
  generatedAt: Date;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const int = (x: string | number | bigint) => Number(x).toLocaleString('en-US');

/** A colour per source: people dark, each machine its own hue (readable on white, and apart in grey). */
const COLOURS: Record<number, string> = {
  [Source.HUMAN]: '#1b4965',
  [Source.APPLE_MPP]: '#bfbfbf',
  [Source.GMAIL_PREFETCH]: '#f4a259',
  [Source.YAHOO_PROXY]: '#8e7dbe',
  [Source.SECURITY_SCANNER]: '#bc4b51',
  [Source.LINK_PREVIEW]: '#5b8e7d',
  [Source.CLIENT_HELPER]: '#e9c46a',
  [Source.BOT]: '#6d6875',
};
const label = (s: Source) => (s === Source.HUMAN ? 'people' : sourceName(s).replace(/_/g, ' '));

function chart(title: string, id: string, series: TimeSeries, bucketMs: number, pick: 'opensBySource' | 'clicksBySource'): string {
  const W = 760;
  const H = 240;
  const pad = { l: 48, r: 12, t: 12, b: 36 };
  const points = [...series.points].sort((a, b) => Number(a.bucketStartUnixMs) - Number(b.bucketStartUnixMs));
  const totals = points.map((p) => p[pick].reduce((n, c) => n + Number(c.count), 0));
  const max = Math.max(1, ...totals);
  const first = points.length ? Number(points[0]!.bucketStartUnixMs) : 0;
  const last = points.length ? Number(points[points.length - 1]!.bucketStartUnixMs) : 0;
  const slots = Math.max(1, Math.round((last - first) / bucketMs) + 1);
  const bw = (W - pad.l - pad.r) / slots;
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const bars: string[] = [];
  for (const p of points) {
    const x = pad.l + Math.round((Number(p.bucketStartUnixMs) - first) / bucketMs) * bw;
    let acc = 0;
    const counts = [...p[pick]].sort((a, b) => a.source - b.source);
    for (const c of counts) {
      const n = Number(c.count);
      if (n === 0) continue;
      const top = y(acc + n);
      bars.push(
        `<rect x="${(x + bw * 0.1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${(y(acc) - top).toFixed(1)}" fill="${COLOURS[c.source] ?? '#999'}"><title>${escape(`${new Date(Number(p.bucketStartUnixMs)).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${label(c.source)} ${n}`)}</title></rect>`,
      );
      acc += n;
    }
  }
  const tick = (t: number) => new Date(t).toISOString().slice(0, bucketMs >= 86_400_000 ? 10 : 16).replace('T', ' ');
  const axis = [
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#444"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#444"/>`,
    `<text x="${pad.l - 6}" y="${pad.t + 4}" text-anchor="end">${max}</text>`,
    `<text x="${pad.l - 6}" y="${H - pad.b}" text-anchor="end">0</text>`,
    points.length ? `<text x="${pad.l}" y="${H - 10}">${tick(first)}</text>` : '',
    points.length > 1 ? `<text x="${W - pad.r}" y="${H - 10}" text-anchor="end">${tick(last)} UTC</text>` : '',
  ];
  const present = [...new Set(points.flatMap((p) => p[pick].map((c) => c.source)))].sort((a, b) => a - b);
  const legend = present.map((s) => `<span class="key"><i style="background:${COLOURS[s] ?? '#999'}"></i>${escape(label(s))}</span>`).join('');
  return `<figure id="${id}"><figcaption>${escape(title)}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(title)}" data-total="${totals.reduce((a, b) => a + b, 0)}">${axis.join('')}${bars.join('')}</svg>
<div class="legend">${legend || 'no events yet'}</div></figure>`;
}

function figureRows(name: string, key: string, f: Figures | undefined): string {
  const cells: Array<[string, string]> = [
    ['opens', int(f?.opens ?? 0)],
    ['unique-opens', int(f?.uniqueOpens ?? 0)],
    ['clicks', int(f?.clicks ?? 0)],
    ['unique-clicks', int(f?.uniqueClicks ?? 0)],
    ['open-rate', pct(f?.openRate ?? 0)],
    ['click-through', pct(f?.clickThroughRate ?? 0)],
    ['click-to-open', pct(f?.clickToOpenRate ?? 0)],
  ];
  return `<tr><th scope="row">${escape(name)}</th>${cells.map(([k, v]) => `<td data-figure="${key}-${k}">${v}</td>`).join('')}</tr>`;
}

/** The report as one HTML file: no script, no external style, font or image. */
export function renderReport(d: ReportData): string {
  const s = d.stats;
  const p = s.appliedPolicy!;
  const mode = { [PolicyMode.UNSPECIFIED]: "the tenant's policy", [PolicyMode.INCLUDE_AUTOMATED]: 'everything counted', [PolicyMode.EXCLUDE_AUTOMATED]: 'people only', [PolicyMode.EXPLICIT]: 'a previewed policy' }[p.mode];
  const list = (x: Source[]) => (x.length ? x.map((v) => escape(label(v))).join(', ') : 'nothing');
  const machines = s.automatedBySource.filter((x) => Number(x.figures?.opens ?? 0) + Number(x.figures?.clicks ?? 0) > 0);
  const linkRows = d.links.links
    .map(
      (l) =>
        `<tr data-link="${l.link}"${l.role === LinkRole.UNSUBSCRIBE ? ' class="unsubscribe"' : ''}><td>${l.link}${l.role === LinkRole.UNSUBSCRIBE ? ' (unsubscribe)' : ''}</td><td data-figure="link-${l.link}-human-clicks">${int(l.humanClicks)}</td><td data-figure="link-${l.link}-human-unique">${int(l.humanUniqueClickers)}</td><td data-figure="link-${l.link}-automated-clicks">${int(l.automatedClicks)}</td><td data-figure="link-${l.link}-automated-unique">${int(l.automatedUniqueClickers)}</td><td>${l.automatedBySource.map((x) => `${escape(label(x.source))} ${int(x.count)}`).join(', ') || '-'}</td></tr>`,
    )
    .join('');
  const evidence = d.evidence
    .map((e) => `<tr><td>${escape(e.reason)}</td><td>${escape(label(e.source))}</td><td data-figure="evidence-count">${int(e.events)}</td></tr>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(`Campaign ${s.campaign}: engagement report`)}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0 auto;max-width:820px;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 170px;border:1px solid #ddd;border-radius:8px;padding:10px 12px}.card b{display:block;font-size:26px}.card small{color:#555}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}tr.unsubscribe td{color:#7a2e31}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}svg{width:100%;height:auto;font-size:11px;fill:#444}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:13px}.key i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;border-radius:2px}
footer{margin-top:32px;color:#666;font-size:12px}
</style></head><body>
<h1>Campaign ${escape(s.campaign)}</h1>
<p class="sub">Tenant ${escape(s.tenant)} · <span data-figure="delivered">${int(s.delivered)}</span> delivered · reported under ${mode}</p>
<div class="cards">
<div class="card"><small>Open rate, people</small><b data-figure="card-human-open-rate">${pct(s.human?.openRate ?? 0)}</b><small>as reported: ${pct(s.reported?.openRate ?? 0)}</small></div>
${
  s.estimatedHumanOpenRate && s.estimatedHumanOpenRate.hiddenShare > 0
    ? `<div class="card"><small>Open rate, people, estimated</small><b data-figure="card-estimated-open-rate">${pct(s.estimatedHumanOpenRate.rate)}</b><small>95%: ${pct(s.estimatedHumanOpenRate.low)} to ${pct(s.estimatedHumanOpenRate.high)}; hidden by Apple's prefetch: ${pct(s.estimatedHumanOpenRate.hiddenShare)}</small></div>`
    : ''
}
<div class="card"><small>Click-through, people</small><b data-figure="card-human-ctr">${pct(s.human?.clickThroughRate ?? 0)}</b><small>as reported: ${pct(s.reported?.clickThroughRate ?? 0)}</small></div>
<div class="card"><small>Click-to-open, people</small><b data-figure="card-human-ctor">${pct(s.human?.clickToOpenRate ?? 0)}</b><small>as reported: ${pct(s.reported?.clickToOpenRate ?? 0)}</small></div>
<div class="card"><small>Machine opens and clicks</small><b data-figure="card-machine-events">${int(Number(s.all?.opens ?? 0) - Number(s.human?.opens ?? 0) + Number(s.all?.clicks ?? 0) - Number(s.human?.clicks ?? 0))}</b><small>of ${int(Number(s.all?.opens ?? 0) + Number(s.all?.clicks ?? 0))} in all</small></div>
</div>
<h2>Over time</h2>
${chart('Opens, people and each automated source', 'opens-chart', d.series, d.bucketMs, 'opensBySource')}
${chart('Clicks, people and each automated source', 'clicks-chart', d.series, d.bucketMs, 'clicksBySource')}
<h2>Rates</h2>
<table id="rates"><thead><tr><th></th><th>opens</th><th>unique opens</th><th>clicks</th><th>unique clicks</th><th>open rate</th><th>click-through</th><th>click-to-open</th></tr></thead><tbody>
${figureRows('As reported', 'reported', s.reported)}
${figureRows('People only', 'human', s.human)}
${figureRows('Everything', 'all', s.all)}
${machines.map((x) => figureRows(label(x.source), `source-${sourceName(x.source)}`, x.figures)).join('\n')}
</tbody></table>
<h2>Links</h2>
<table id="links"><thead><tr><th>link</th><th>people clicks</th><th>unique people</th><th>machine clicks</th><th>unique machines</th><th>machines by source</th></tr></thead><tbody>${linkRows || '<tr><td colspan="6">no clicks yet</td></tr>'}</tbody></table>
<p>Engagement clicks as reported: <span data-figure="content-clicks">${int(d.links.contentClicks)}</span> (${int(d.links.contentUniqueClickers)} unique); unsubscribe clicks: <span data-figure="unsubscribe-clicks">${int(d.links.unsubscribeClicks)}</span> (${int(d.links.unsubscribeUniqueClickers)} unique), not counted as engagement.</p>
<h2>Policy applied</h2>
<p id="policy">Left out of the reported opens: <span data-figure="policy-opens">${list(p.suppressedOpenSources)}</span>. Left out of the reported clicks: <span data-figure="policy-clicks">${list(p.suppressedClickSources)}</span>. People are always counted.</p>
<h2>Why events were called automated</h2>
<table id="evidence"><thead><tr><th>evidence</th><th>source</th><th>events</th></tr></thead><tbody>${evidence || '<tr><td colspan="3">no automated events</td></tr>'}</tbody></table>
<footer>Winnow campaign report, made ${escape(d.generatedAt.toISOString())} from the statistics API (${int(d.eventsRead)} stored events read for the evidence and the links; the counters hold every event, also those past retention).</footer>
</body></html>
`;
}
