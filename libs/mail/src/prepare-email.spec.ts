import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parse } from 'parse5';
import { EventKind, LinkRole } from '@winnow/proto';
import { Keyring, MAX_TOKEN_CHARS, openToken, sealedTokenChars } from '@winnow/tokens';
import { PrepareError, SURELY_FITS, analysisCounts, prepareEmail } from './prepare-email';

const keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }], 'k1');
const opts = { keyring, baseUrl: 'https://links.clinic.example', tenant: 'clinic', campaign: 'flu-2026', message: 'msg-000123', sentAtS: 1_790_000_000, recipientDomain: 'Contoso.org' };
const open = (url: string) => openToken(keyring, url.split('/').pop()!.replace(/\.gif$/, ''), { tenant: 'clinic', nowS: 1_790_000_100, maxAgeS: 0 });

const EMAIL = `<!doctype html>
<html><head><title>Your flu shot</title></head>
<body style="margin:0">
  <p>Hello,</p>
  <p><a href="https://clinic.example/book?slot=9&amp;day=mon" class="btn">Book now</a></p>
  <p><a href="mailto:front-desk@clinic.example">Write to us</a> or call <a href="tel:+15551234">555-1234</a>.</p>
  <p><a href="#details">Details</a> <a href="/relative">relative</a> <a href="http://clinic.example/map" data-winnow-ignore>map</a></p>
  <map name="m"><area href="https://clinic.example/area" alt="x"></map>
  <p><a href="https://clinic.example/prefs">Unsubscribe</a> | <a data-winnow-role="unsubscribe" href="https://clinic.example/u/77">stop</a></p>
</body></html>`;

describe('prepareEmail', () => {
  const out = prepareEmail(EMAIL, opts);

  it('wraps each http(s) link in a sealed token and leaves the rest alone', () => {
    expect(out.links.map((l) => [l.index, LinkRole[l.role], l.target])).toEqual([
      [0, 'CONTENT', 'https://clinic.example/book?slot=9&day=mon'],
      [1, 'CONTENT', 'https://clinic.example/area'],
      [2, 'UNSUBSCRIBE', 'https://clinic.example/prefs'],
      [3, 'UNSUBSCRIBE', 'https://clinic.example/u/77'],
      [4, 'HONEYPOT', 'https://links.clinic.example/'],
    ]);
    for (const l of out.links) {
      const p = open(l.url);
      expect(p).toMatchObject({ kind: EventKind.CLICK, linkIndex: l.index, linkRole: l.role, targetUrl: l.target, links: 5, message: 'msg-000123', recipientDomain: 'contoso.org' });
    }
    expect(out.html).toContain('href="mailto:front-desk@clinic.example"');
    expect(out.html).toContain('href="tel:+15551234"');
    expect(out.html).toContain('href="#details"');
    expect(out.html).toContain('href="/relative"');
    expect(out.html).toContain('href="http://clinic.example/map" data-winnow-ignore');
    expect(out.html).not.toContain('https://clinic.example/book');
    // Nothing else moved: without the trap and pixel, and with link addresses masked, it is the original.
    const mask = (html: string, hrefs: string[]) => hrefs.reduce((acc, h) => acc.replace(h, 'href="X"'), html);
    const stripped = out.html.replace(/<a href="[^"]+" style="display:none[^>]+><\/a>/, '').replace(/<img src="[^"]+\.gif"[^>]+>/, '');
    const original = ['book?slot=9&amp;day=mon', 'area', 'prefs', 'u/77'].map((p) => `href="https://clinic.example/${p}"`);
    expect(mask(stripped, out.links.slice(0, 4).map((l) => `href="${l.url}"`))).toBe(mask(EMAIL, original));
  });

  it('puts the trap link first in the body, hidden, and the pixel last', () => {
    const doc = parse(out.html);
    const html = doc.childNodes.find((n) => n.nodeName === 'html') as unknown as { childNodes: Array<{ nodeName: string; childNodes: Array<{ nodeName: string; attrs?: Array<{ name: string; value: string }> }> }> };
    const body = html.childNodes.find((n) => n.nodeName === 'body')!;
    const elements = body.childNodes.filter((n) => n.nodeName !== '#text');
    expect(elements[0]!.nodeName).toBe('a');
    expect(elements[0]!.attrs!.find((a) => a.name === 'style')!.value).toMatch(/display:none/);
    expect(elements[0]!.attrs!.find((a) => a.name === 'aria-hidden')!.value).toBe('true');
    const last = elements[elements.length - 1]!;
    expect(last.nodeName).toBe('img');
    expect(open(last.attrs!.find((a) => a.name === 'src')!.value)).toMatchObject({ kind: EventKind.OPEN, message: 'msg-000123' });
    expect(out.pixelUrl).toMatch(/^https:\/\/links\.clinic\.example\/o\/[A-Za-z0-9_-]+\.gif$/);
  });

  it('never puts an address or other recipient data in a URL', () => {
    for (const u of [out.pixelUrl, ...out.links.map((l) => l.url)]) {
      expect(u).not.toMatch(/@|contoso|msg-000123|clinic\.example\/book/i);
    }
    expect(() => prepareEmail(EMAIL, { ...opts, message: 'jane.doe@contoso.org' })).toThrow(/looks like an email address/);
    expect(() => prepareEmail(EMAIL, { ...opts, campaign: 'spring campaign' })).toThrow(PrepareError);
    expect(() => prepareEmail(EMAIL, { ...opts, baseUrl: 'https://links.clinic.example/path' })).toThrow(/origin/);
  });

  it('handles a fragment without <body>', () => {
    const r = prepareEmail('<p>Hi <a href="https://x.example/a">a</a></p>', opts);
    expect(r.links).toHaveLength(2);
    expect(r.html.startsWith('<a href="https://links.clinic.example/c/')).toBe(true);
    expect(r.html.endsWith('.gif" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">')).toBe(true);
    expect(r.html).toContain('<p>Hi <a href="https://links.clinic.example/c/');
  });

  it('leaves a link whose target is too long to seal as it was, and tracks the others with their indexes in order', () => {
    const long = `https://clinic.example/results?${'q'.repeat(3500)}`;
    const html = `<html><body><a href="https://clinic.example/a">a</a><a href="${long}">long</a><a href="https://clinic.example/b">b</a></body></html>`;
    const r = prepareEmail(html, opts);
    expect(r.untracked).toEqual([long]);
    expect(r.html).toContain(`href="${long}"`);
    expect(r.links.map((l) => [l.index, l.target])).toEqual([
      [0, 'https://clinic.example/a'],
      [1, 'https://clinic.example/b'],
      [2, 'https://links.clinic.example/'],
    ]);
    for (const l of r.links) expect(open(l.url)).toMatchObject({ linkIndex: l.index, targetUrl: l.target, links: 3 });
    // A long target that still fits is tracked, and its link opens.
    const fits = `https://clinic.example/results?${'q'.repeat(2500)}`;
    const ok = prepareEmail(`<a href="${fits}">x</a>`, opts);
    expect(ok.untracked).toEqual([]);
    expect(open(ok.links[0]!.url)).toMatchObject({ targetUrl: fits });
  });

  it('keeps the doctype first and the pixel inside <html> when the mail has no <body> tag', () => {
    const html = '<!DOCTYPE html>\n<html><head><title>x</title></head>\n<p>Hello <a href="https://a.example/x">x</a></p>\n</html>';
    const r = prepareEmail(html, opts);
    expect(r.html.startsWith('<!DOCTYPE html>\n<html><head><title>x</title></head><a href=')).toBe(true);
    expect(r.html.endsWith('" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0"></html>')).toBe(true);
    const fragment = prepareEmail('<!doctype html><p>x</p>', opts);
    expect(fragment.html.startsWith('<!doctype html><a href=')).toBe(true);
  });

  it('gives an unclosed link one token, however many blocks the parser copies it into', () => {
    // parse5 reconstructs an open <a> in each following block, every copy with the original's source position.
    const html = '<p><a href="https://shop.example/">Visit</p><p>Thanks</p><p>Bye</p>';
    const r = prepareEmail(html, opts);
    expect(r.links.map((l) => [l.index, LinkRole[l.role], l.target])).toEqual([
      [0, 'CONTENT', 'https://shop.example/'],
      [1, 'HONEYPOT', 'https://links.clinic.example/'],
    ]);
    // The one href became the one sealed link, whole.
    const hrefs = [...r.html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual([r.links[1]!.url, r.links[0]!.url]);
    expect(r.html).toContain(`<p><a href="${r.links[0]!.url}">Visit</p><p>Thanks</p><p>Bye</p>`);
    // Many blocks after it are not many links.
    expect(prepareEmail(`<p><a href="https://shop.example/">Visit</p>${'<p>more</p>'.repeat(1500)}`, opts).links).toHaveLength(2);
  });

  it('refuses a mail with more links than it tracks', () => {
    const many = Array.from({ length: 1001 }, (_, i) => `<a href="https://a.example/${i}">l</a>`).join('');
    expect(() => prepareEmail(`<body>${many}</body>`, opts)).toThrow(/1001 http\(s\) links; at most 1000/);
    expect(prepareEmail(`<body>${many.slice(many.indexOf('<a', 10))}</body>`, opts).links).toHaveLength(1001);
  });
});

describe("prepareEmail and a campaign's shared text", () => {
  // The mail with its tokens taken out: what must not differ between a parsed and a reused analysis.
  const shape = (o: ReturnType<typeof prepareEmail>) => {
    let html = o.html.split(o.pixelUrl).join('PIXEL');
    o.links.forEach((l, i) => (html = html.split(l.url.replace(/&/g, '&amp;')).join(`LINK${i}`)));
    return { html, links: o.links.map((l) => [l.index, l.role, l.target]), untracked: o.untracked };
  };
  const text = (n: number) => EMAIL.replace('Hello,', `Hello, reader ${n},`);

  it('parses a text again only until it has come twice, then reuses its analysis: the same mail, fresh tokens', () => {
    const html = text(1);
    const before = analysisCounts();
    const outs = [1, 2, 3, 4].map((i) => prepareEmail(html, { ...opts, message: `m-${i}` }));
    const after = analysisCounts();
    expect([after.parsed - before.parsed, after.reused - before.reused]).toEqual([2, 2]);
    for (const o of outs.slice(1)) expect(shape(o)).toEqual(shape(outs[0]!));
    // Each copy is its recipient's own: its tokens name its message, none is shared.
    expect(new Set(outs.map((o) => o.pixelUrl)).size).toBe(4);
    outs.forEach((o, i) => {
      for (const l of o.links) expect(open(l.url)).toMatchObject({ message: `m-${i + 1}`, linkIndex: l.index, targetUrl: l.target });
    });
  });

  it("keeps nothing of one recipient's own mail: a text that comes once, or twice for the same message (a preview and its send)", () => {
    const held = analysisCounts().held;
    for (let i = 100; i < 110; i++) prepareEmail(text(i), { ...opts, message: `own-${i}` });
    for (let i = 100; i < 110; i++) prepareEmail(text(i), { ...opts, message: `own-${i}` });
    expect(analysisCounts().held).toBe(held);
  });

  it('keeps at most 32 texts, the newest', () => {
    for (let i = 200; i < 240; i++) {
      prepareEmail(text(i), { ...opts, message: 'a' });
      prepareEmail(text(i), { ...opts, message: 'b' });
    }
    expect(analysisCounts().held).toBe(32);
    const reused = analysisCounts().reused;
    prepareEmail(text(239), { ...opts, message: 'c' });
    expect(analysisCounts().reused).toBe(reused + 1);
  });

  it("reuses no other tenant's analysis: one tenant's timing says nothing of another's mail", () => {
    const html = text(300);
    prepareEmail(html, { ...opts, message: 'a' });
    prepareEmail(html, { ...opts, message: 'b' });
    const before = analysisCounts();
    prepareEmail(html, { ...opts, tenant: 'other-clinic', message: 'a' });
    prepareEmail(html, { ...opts, message: 'c' });
    const after = analysisCounts();
    expect([after.parsed - before.parsed, after.reused - before.reused]).toEqual([1, 1]);
  });

  it('keeps no analysis of a mail it refuses (more links than are tracked)', () => {
    const many = `<body>${'<a href="https://x.example/">x</a>'.repeat(1001)}</body>`;
    const held = analysisCounts().held;
    for (const message of ['a', 'b', 'c']) expect(() => prepareEmail(many, { ...opts, message })).toThrow(PrepareError);
    expect(analysisCounts().held).toBe(held);
  });

  it('tells apart texts that differ in a lone surrogate (the digest is of UTF-16 units, not UTF-8)', () => {
    const a = '<body><a href="https://x.example/\ufffd">x</a></body>';
    const b = '<body><a href="https://x.example/\ud800">x</a></body>';
    for (const message of ['a', 'b', 'c']) prepareEmail(a, { ...opts, message });
    expect(prepareEmail(b, { ...opts, message: 'd' }).links[0]!.target).toBe('https://x.example/\ud800');
  });
});

it('a target and domain within SURELY_FITS bytes fit in a token with the longest ids and numbers', () => {
  const longest = { tenant: 'T'.repeat(128), campaign: 'C'.repeat(128), message: 'M'.repeat(128), sentAtUnixS: '-9223372036854775808', links: -1, kind: EventKind.CLICK, linkIndex: -1, linkRole: LinkRole.UNSUBSCRIBE };
  const kid = new Keyring([{ id: 'longkey8', secret: randomBytes(32) }], 'longkey8');
  for (const domainBytes of [0, 253, SURELY_FITS / 2, SURELY_FITS - 18]) {
    const target = 'https://x.example/' + 'é'.repeat(Math.floor((SURELY_FITS - domainBytes - 18) / 2));
    const domain = 'd'.repeat(domainBytes);
    expect(Buffer.byteLength(target) + domainBytes).toBeLessThanOrEqual(SURELY_FITS);
    expect(sealedTokenChars(kid, { ...longest, targetUrl: target, recipientDomain: domain })).toBeLessThanOrEqual(MAX_TOKEN_CHARS);
  }
});

it('measures the recipient domain as the token carries it, in lower case (which can be longer)', () => {
  // U+023A is 2 bytes in UTF-8 and its lower case 3: 1,600 bytes as given, 2,400 in the token. With
  // the longest ids, a 323-byte target is within SURELY_FITS against the given domain and does not
  // fit against the one the token carries: it must be measured, and left untracked, not sealed.
  const longest = { ...opts, tenant: 'T'.repeat(128), campaign: 'C'.repeat(128), message: 'M'.repeat(128), recipientDomain: '\u023a'.repeat(800) };
  const target = `https://clinic.example/${'a'.repeat(300)}`;
  const out = prepareEmail(`<body><a href="${target}">a</a></body>`, longest);
  expect(out.untracked).toEqual([target]);
  expect(out.links.map((l) => l.role)).toEqual([LinkRole.HONEYPOT]);
});
