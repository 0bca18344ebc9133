import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema, EventKind, LinkRole, Source } from '@winnow/proto';
import { classifyBaseline } from './rules';

const ev = (kind: EventKind, ua: string | undefined, extra: Partial<{ method: string; linkRole: LinkRole }> = {}) =>
  create(EdgeEventSchema, {
    kind,
    method: extra.method ?? 'GET',
    linkRole: extra.linkRole ?? LinkRole.CONTENT,
    headers: ua === undefined ? {} : { 'user-agent': ua },
  });

describe('baseline rules', () => {
  const cases: Array<[string, ReturnType<typeof ev>, Source]> = [
    ['Apple MPP prefetch', ev(EventKind.OPEN, 'Mozilla/5.0'), Source.APPLE_MPP],
    ['Gmail image proxy is a person', ev(EventKind.OPEN, 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'), Source.HUMAN],
    ['HEAD on a link', ev(EventKind.CLICK, 'Mozilla/5.0 (Windows NT 10.0) Chrome/96.0', { method: 'HEAD' }), Source.SECURITY_SCANNER],
    ['Office discovery', ev(EventKind.CLICK, 'Microsoft Office Protocol Discovery', { method: 'OPTIONS' }), Source.CLIENT_HELPER],
    ['trap link', ev(EventKind.CLICK, 'Mozilla/5.0 (Windows NT 10.0) Chrome/120.0', { linkRole: LinkRole.HONEYPOT }), Source.SECURITY_SCANNER],
    ['no user-agent', ev(EventKind.CLICK, undefined), Source.BOT],
    ['curl', ev(EventKind.CLICK, 'curl/8.5.0'), Source.BOT],
    ['Slack preview', ev(EventKind.CLICK, 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)'), Source.LINK_PREVIEW],
    ['a browser', ev(EventKind.CLICK, 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0'), Source.HUMAN],
  ];
  it.each(cases)('%s', (_name, event, source) => {
    const d = classifyBaseline(event);
    expect(d.source).toBe(source);
    expect(d.reasons.length).toBeGreaterThan(0);
    expect(d.confidence).toBeGreaterThan(0);
    expect(d.confidence).toBeLessThanOrEqual(1);
  });
});
