import { createHash } from 'node:crypto';
import { parse, type DefaultTreeAdapterMap } from 'parse5';
import { EventKind, LinkRole } from '@winnow/proto';
import { MAX_TOKEN_CHARS, clickPath, pixelPath, sealedTokenChars, type Keyring, type MessageRef } from '@winnow/tokens';

type Node = DefaultTreeAdapterMap['node'];
type Element = DefaultTreeAdapterMap['element'];

export interface PrepareOptions {
  keyring: Keyring;
  /** The tenant's tracking origin, e.g. `https://links.clinic.example` (no trailing slash). */
  baseUrl: string;
  tenant: string;
  campaign: string;
  /** An opaque id of this recipient's copy; never the address. */
  message: string;
  /** When the mail is handed over, seconds since the epoch. */
  sentAtS: number;
  /** The recipient's mail domain (optional; helps the classifier); never the address. */
  recipientDomain?: string;
}

export interface TrackedLink {
  index: number;
  role: LinkRole;
  target: string;
  url: string;
}

export interface PreparedEmail {
  html: string;
  pixelUrl: string;
  /** Every tracked link in index order; the last is the hidden trap link. */
  links: TrackedLink[];
  /**
   * http(s) link targets left as they were, in document order: too long to seal into a link a
   * collector can open (MAX_TOKEN_CHARS; about 2,900 characters of target). Their clicks are not seen.
   */
  untracked: string[];
}

/** A problem with the options; nothing was prepared. */
export class PrepareError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrepareError';
  }
}

/** Most tracked links one mail may have: each costs a sealed token, and a mail with more is not one a person reads. */
export const MAX_TRACKED_LINKS = 1000;

const OPAQUE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/**
 * Link target and recipient domain bytes that always fit in a token (MAX_TOKEN_CHARS of base64url is
 * 3,072 bytes; the envelope takes 38, three ids of 128 characters and the numbers under 500 more).
 * prepare-email.spec.ts checks the bound against the real measure.
 */
export const SURELY_FITS = 2048;
const UNSUBSCRIBE = /unsubscribe|opt-?out|abmelden|d[ée]sinscri/i;

function checkId(name: string, v: string): void {
  if (v.includes('@')) throw new PrepareError(`${name} looks like an email address: use an opaque id (no patient data in URLs)`);
  if (!OPAQUE_ID.test(v)) throw new PrepareError(`${name} must be 1-128 characters of letters, digits and . _ : - (got ${JSON.stringify(v)})`);
}

function attr(el: Element, name: string): string | undefined {
  return el.attrs.find((a) => a.name === name)?.value;
}

function textOf(node: Node): string {
  if (node.nodeName === '#text') return (node as DefaultTreeAdapterMap['textNode']).value;
  return 'childNodes' in node ? node.childNodes.map(textOf).join('') : '';
}

function walk(node: Node, visit: (el: Element) => void): void {
  if ('tagName' in node) visit(node);
  if ('childNodes' in node) for (const c of node.childNodes) walk(c, visit);
  if (node.nodeName === 'template') walk((node as DefaultTreeAdapterMap['template']).content as unknown as Node, visit);
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/** A tracked link as the text has it: where its `href` attribute is, what it points to, its role. */
interface FoundLink {
  start: number;
  end: number;
  target: string;
  role: LinkRole;
}

/** What prepareEmail needs of a mail's text, which depends on the text alone. */
interface Analysis {
  found: readonly FoundLink[];
  /** Where the trap link goes (after `<body>`) and the pixel (before `</body>`). */
  afterBodyStart: number;
  beforeBodyEnd: number;
}

function analyse(html: string): Analysis {
  const doc = parse(html, { sourceCodeLocationInfo: true });
  const found: FoundLink[] = [];
  let body: Element | undefined;
  let head: Element | undefined;
  let htmlEl: Element | undefined;
  const doctypeEnd = (doc.childNodes.find((n) => n.nodeName === '#documentType') as { sourceCodeLocation?: { endOffset: number } } | undefined)?.sourceCodeLocation?.endOffset;
  const hrefsSeen = new Set<number>();
  walk(doc as unknown as Node, (el) => {
    if (el.tagName === 'body') body = el;
    if (el.tagName === 'head') head = el;
    if (el.tagName === 'html') htmlEl = el;
    if (el.tagName !== 'a' && el.tagName !== 'area') return;
    const href = attr(el, 'href')?.trim();
    if (!href || !/^https?:\/\//i.test(href) || attr(el, 'data-winnow-ignore') !== undefined) return;
    const hrefAt = el.sourceCodeLocation?.attrs?.['href'];
    if (!hrefAt) return;
    // An unclosed <a> is copied by the parser into the blocks after it (formatting elements are
    // reconstructed), each copy with the original's source position: one link in the text, one token.
    if (hrefsSeen.has(hrefAt.startOffset)) return;
    hrefsSeen.add(hrefAt.startOffset);
    const marked = attr(el, 'data-winnow-role');
    const role = marked === 'unsubscribe' || (marked === undefined && (UNSUBSCRIBE.test(href) || UNSUBSCRIBE.test(textOf(el)))) ? LinkRole.UNSUBSCRIBE : LinkRole.CONTENT;
    found.push({ start: hrefAt.startOffset, end: hrefAt.endOffset, target: href, role });
  });
  // Without a <body> tag (legal HTML; common in templates) the trap goes after </head>, or the <html>
  // start tag, or the doctype, never before the doctype (that puts the mail in quirks mode); the
  // pixel goes before </html> when there is no </body>.
  const bodyLoc = (body as Element | undefined)?.sourceCodeLocation;
  const afterBodyStart = bodyLoc?.startTag?.endOffset ?? (head as Element | undefined)?.sourceCodeLocation?.endTag?.endOffset ?? (htmlEl as Element | undefined)?.sourceCodeLocation?.startTag?.endOffset ?? doctypeEnd ?? 0;
  const beforeBodyEnd = bodyLoc?.endTag?.startOffset ?? (htmlEl as Element | undefined)?.sourceCodeLocation?.endTag?.startOffset ?? html.length;
  return { found, afterBodyStart, beforeBodyEnd };
}

/**
 * A campaign's mail is often the same text for every recipient, and parsing it is most of the work
 * (about 10-15 ms for 50 KB; sealing its tokens about 2 ms). The analysis of a text is kept once the
 * same tenant has brought the same text for a second message: text shared by recipients, never one
 * recipient's own mail (a preview and its send, or a retry, are the same message); a text seen once
 * leaves only its digest and message id here. Keyed by tenant and text, so one tenant's timing says
 * nothing of another's mail. Bounded in entries and in what they hold (targets, and about 100 bytes
 * a link); a mail with more links than are tracked is refused anyway, and not kept.
 */
const ANALYSES_HELD = 32;
const ANALYSIS_BYTES_HELD = 8_000_000;
const BYTES_PER_LINK = 100;
const DIGESTS_HELD = 4096;
const analyses = new Map<string, { analysis: Analysis; bytes: number }>();
let analysedBytes = 0;
/** Digest of tenant and text -> the message that brought it first. */
const seenOnce = new Map<string, string>();
const counts = { parsed: 0, reused: 0 };

function analysisOf(html: string, tenant: string, message: string): Analysis {
  // UTF-16 units, not UTF-8: two texts that differ in a lone surrogate are two texts.
  const digest = createHash('sha256').update(tenant).update('\u0000').update(html, 'utf16le').digest('base64');
  const held = analyses.get(digest);
  if (held) {
    // Most recently used last: the oldest goes first when full.
    analyses.delete(digest);
    analyses.set(digest, held);
    counts.reused++;
    return held.analysis;
  }
  counts.parsed++;
  const analysis = analyse(html);
  const first = seenOnce.get(digest);
  if (first === undefined || first === message) {
    if (seenOnce.size >= DIGESTS_HELD) seenOnce.clear();
    seenOnce.set(digest, message);
    return analysis;
  }
  seenOnce.delete(digest);
  const bytes = analysis.found.reduce((n, f) => n + 2 * f.target.length + BYTES_PER_LINK, 0);
  if (analysis.found.length > MAX_TRACKED_LINKS || bytes > ANALYSIS_BYTES_HELD) return analysis;
  analyses.set(digest, { analysis, bytes });
  analysedBytes += bytes;
  for (const [k, v] of analyses) {
    if (analyses.size <= ANALYSES_HELD && analysedBytes <= ANALYSIS_BYTES_HELD) break;
    analyses.delete(k);
    analysedBytes -= v.bytes;
  }
  return analysis;
}

/** How many mails this process parsed, and how many reused the analysis of a text seen before (for tests and benchmarks). */
export function analysisCounts(): { parsed: number; reused: number; held: number } {
  return { ...counts, held: analyses.size };
}

/**
 * Rewrites an outgoing HTML email for a tenant's tracking domain:
 * - every `http(s)` link (`<a>`, `<area>`) goes through a sealed click token; `mailto:`, `tel:`,
 *   anchors, relative links and links marked `data-winnow-ignore` are left alone;
 * - links marked `data-winnow-role="unsubscribe"`, or whose address or text says unsubscribe or
 *   opt out, are tracked with the unsubscribe role;
 * - one hidden trap link that no person would click is added right after `<body>`;
 * - the open pixel goes just before `</body>`.
 * Everything else in the document stays byte for byte as it was.
 */
export function prepareEmail(html: string, opts: PrepareOptions): PreparedEmail {
  checkId('tenant', opts.tenant);
  checkId('campaign', opts.campaign);
  checkId('message', opts.message);
  if (!/^https?:\/\/[a-z0-9.-]+(:\d+)?$/.test(opts.baseUrl)) throw new PrepareError(`base URL must be an http(s) origin without a path, got ${JSON.stringify(opts.baseUrl)}`);

  const { found, afterBodyStart, beforeBodyEnd } = analysisOf(html, opts.tenant, opts.message);
  if (found.length > MAX_TRACKED_LINKS) {
    throw new PrepareError(`the mail has ${found.length} http(s) links; at most ${MAX_TRACKED_LINKS} are tracked (mark the rest data-winnow-ignore)`);
  }
  const refFor = (links: number): MessageRef => ({
    tenant: opts.tenant,
    campaign: opts.campaign,
    message: opts.message,
    sentAtUnixS: String(Math.floor(opts.sentAtS)),
    links,
    ...(opts.recipientDomain ? { recipientDomain: opts.recipientDomain.toLowerCase() } : {}),
  });
  // A target too long to seal into an openable token is left as it was (and said so) rather than
  // sent out as a link that could only ever answer 404. Measured with the largest link count, so a
  // link kept here stays within the limit once the count is final.
  const draft = refFor(found.length + 1);
  const untracked: string[] = [];
  // A target and a domain of SURELY_FITS bytes or fewer fit whatever the rest (ids are at most 128
  // characters each): only longer ones are measured.
  // Measured as the token carries it: lower case can be longer (U+023A is 2 bytes, its lower case 3).
  const domainBytes = Buffer.byteLength(opts.recipientDomain?.toLowerCase() ?? '');
  const anchors = found.filter((a, i) => {
    const fits =
      Buffer.byteLength(a.target) + domainBytes <= SURELY_FITS ||
      sealedTokenChars(opts.keyring, { ...draft, kind: EventKind.CLICK, linkIndex: i, linkRole: a.role, targetUrl: a.target }) <= MAX_TOKEN_CHARS;
    if (!fits) untracked.push(a.target);
    return fits;
  });
  const ref = refFor(anchors.length + 1);
  const links: TrackedLink[] = anchors.map((a, index) => ({
    index,
    role: a.role,
    target: a.target,
    url: opts.baseUrl + clickPath(opts.keyring, ref, index, a.role, a.target),
  }));
  const trapTarget = `${opts.baseUrl}/`;
  links.push({ index: anchors.length, role: LinkRole.HONEYPOT, target: trapTarget, url: opts.baseUrl + clickPath(opts.keyring, ref, anchors.length, LinkRole.HONEYPOT, trapTarget) });
  const pixelUrl = opts.baseUrl + pixelPath(opts.keyring, ref);

  // The edits, spliced into the original text in one pass.
  const edits: Array<{ start: number; end: number; text: string }> = anchors.map((a, i) => ({ start: a.start, end: a.end, text: `href="${escapeAttr(links[i]!.url)}"` }));
  const trap = `<a href="${escapeAttr(links[links.length - 1]!.url)}" style="display:none!important;mso-hide:all;font-size:0;line-height:0;max-height:0;overflow:hidden" aria-hidden="true" tabindex="-1"></a>`;
  const pixel = `<img src="${escapeAttr(pixelUrl)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`;
  // The pixel before the trap: at one offset (a body with nothing in it) they go in in this order,
  // as they always did (the sort below is stable).
  edits.push({ start: beforeBodyEnd, end: beforeBodyEnd, text: pixel });
  edits.push({ start: afterBodyStart, end: afterBodyStart, text: trap });
  // In text order, pieces joined once: slicing and concatenating the whole text per edit copied it
  // once per link (4.4 s for a 4 MiB mail with 500 links).
  edits.sort((a, b) => a.start - b.start || a.end - b.end);
  const pieces: string[] = [];
  let at = 0;
  for (const e of edits) {
    if (e.start < at) throw new Error(`prepareEmail: edits overlap at offset ${e.start}`);
    pieces.push(html.slice(at, e.start), e.text);
    at = e.end;
  }
  pieces.push(html.slice(at));
  return { html: pieces.join(''), pixelUrl, links, untracked };
}
