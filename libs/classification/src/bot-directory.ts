import crawlerUserAgents from 'crawler-user-agents';

/**
 * What a maintained directory of automated clients says a user-agent is, for the ones our own
 * signatures do not name. The directory is npm `crawler-user-agents` (MIT,
 * https://github.com/monperrus/crawler-user-agents): about 1,500 patterns, each with a description
 * and categories (`tags`). Two of its categories are sources of ours:
 *
 * - `social-preview`: chat, note-taking and social apps building a card for a shared link
 *   (GroupMe, Mattermost, Matrix Synapse, DingTalk, Notion, fediverse servers) are `link_preview`.
 *   Entries described as a mail program's image proxy (Gmail's, Yahoo's, Fastmail's, Shortwave's)
 *   are left out: they fetch because a person reads the message, and our own signatures decide them.
 * - `scanner`: URL reputation, antivirus and threat-intelligence checks (VirusTotal, K7, SafeDNS,
 *   Cloudflare Radar) are `security_scanner`. Entries described as harvesting or extracting (address
 *   harvesters are in the category too) are left out and stay plain bots.
 *
 * An entry in either category that is also an AI crawler or a search engine is left out: the
 * directory gives such a client several purposes and the link fetch of an email says nothing on which.
 * Only user-agents that are already automated by their own string (a crawler, or one no browser or
 * mail program sends) are looked up: the directory never turns a browser string into a robot.
 */
export type DirectoryKind = 'preview' | 'scanner';

interface DirectoryEntry {
  pattern: RegExp;
  kind: DirectoryKind;
  description: string;
}

const MAIL_PROXY_DESCRIPTION = /e-?mail|gmail/i;
const HARVESTER_DESCRIPTION = /harvest|extract|scrap/i;
const OTHER_PURPOSES = ['ai-crawler', 'search-engine'];

function entriesOf(list: typeof crawlerUserAgents): DirectoryEntry[] {
  const out: DirectoryEntry[] = [];
  for (const e of list) {
    const tags = e.tags ?? [];
    if (tags.some((t) => OTHER_PURPOSES.includes(t))) continue;
    const description = (e as { description?: string }).description ?? e.pattern;
    let kind: DirectoryKind | undefined;
    if (tags.includes('social-preview') && !MAIL_PROXY_DESCRIPTION.test(description)) kind = 'preview';
    else if (tags.includes('scanner') && !HARVESTER_DESCRIPTION.test(description)) kind = 'scanner';
    if (!kind) continue;
    let pattern: RegExp;
    try {
      pattern = new RegExp(e.pattern);
    } catch {
      continue; // a pattern JavaScript cannot compile is not ours to repair
    }
    out.push({ pattern, kind, description });
  }
  return out;
}

const ENTRIES = entriesOf(crawlerUserAgents);

/** The directory's word on a user-agent already known to be automated, or undefined when it has none. */
export function directoryLookup(ua: string): { kind: DirectoryKind; name: string } | undefined {
  for (const e of ENTRIES) if (e.pattern.test(ua)) return { kind: e.kind, name: `${e.description} (crawler-user-agents)` };
  return undefined;
}
