import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** A trace line of shared/traces/FORMAT.md with its label. */
export interface LabelledLine {
  id: string;
  tenant: string;
  campaign: string;
  message: string;
  /** Absent when unknown (field lines whose source does not say). */
  deliveredAt?: string;
  links: number;
  event: { kind: 'open' | 'click'; link?: number; linkRole?: string; at: string; method: string; ip: string; headers: Record<string, string> };
  label: { verdict: 'human' | 'automated'; source: string };
}

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same traces. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const load = createRequire(__filename);

/** Every browser user-agent of npm `user-agents` (BSD-2-Clause), with its language. */
export function browserCorpus(): Array<{ userAgent: string; language: string }> {
  const dir = dirname(load.resolve('user-agents'));
  const all = JSON.parse(readFileSync(join(dir, 'user-agents.json'), 'utf8')) as Array<{ userAgent: string; language: string }>;
  const seen = new Map<string, { userAgent: string; language: string }>();
  for (const u of all) if (!seen.has(u.userAgent)) seen.set(u.userAgent, { userAgent: u.userAgent, language: u.language || 'en-US' });
  return [...seen.values()];
}

/** Every example string of npm `crawler-user-agents` (MIT). */
export function crawlerCorpus(): string[] {
  const list = load('crawler-user-agents') as Array<{ instances: string[] }>;
  return [...new Set(list.flatMap((c) => c.instances))];
}

/** The headers a real browser sends on a navigation (click) or an image fetch (open in webmail). */
export function browserHeaders(ua: string, language: string, what: 'navigate' | 'image'): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': ua, 'accept-language': `${language},${language.split('-')[0]};q=0.9` };
  const safari = /Version\/[\d.]+.*Safari\//.test(ua) && !/Chrome|CriOS|FxiOS|EdgiOS/.test(ua);
  const sendsFetchMeta = !safari || Number(/Version\/(\d+)/.exec(ua)?.[1] ?? 0) >= 17;
  if (what === 'navigate') {
    h['accept'] = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    if (sendsFetchMeta) {
      h['sec-fetch-mode'] = 'navigate';
      h['sec-fetch-dest'] = 'document';
      h['sec-fetch-site'] = 'cross-site';
      if (!safari) h['sec-fetch-user'] = '?1';
    }
  } else {
    h['accept'] = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';
    if (sendsFetchMeta) {
      h['sec-fetch-mode'] = 'no-cors';
      h['sec-fetch-dest'] = 'image';
      h['sec-fetch-site'] = 'cross-site';
    }
  }
  return h;
}
