#!/usr/bin/env node
// The registry reachable here serves only some platforms' prebuilt binaries of a few packages
// (@swc/core, @bufbuild/buf, msgpackr-extract): `npm install` then leaves those optional,
// platform-specific packages out of package-lock.json, and `npm ci` refuses the lockfile as out
// of sync. This adds each missing one as the optional, os/cpu-restricted entry a lockfile made
// against the full registry would hold, so npm ci skips it on this platform as it should.
// Run after `npm install` changes the lockfile.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const platform = (name) => {
  const os = ['darwin', 'win32', 'linux', 'freebsd', 'android'].find((o) => name.includes(`-${o}-`));
  const tail = name.slice(name.indexOf(`-${os}-`) + os.length + 2);
  const cpu = tail.startsWith('arm64') ? 'arm64' : tail.startsWith('arm') ? 'arm' : tail.split('-')[0];
  return { os, cpu };
};
let added = 0;
for (const [key, node] of Object.entries(lock.packages)) {
  for (const [dep, spec] of Object.entries(node.optionalDependencies ?? {})) {
    const at = `${key ? `${key}/` : ''}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (lock.packages[at] || lock.packages[hoisted]) continue;
    const { os, cpu } = platform(dep);
    if (!os) continue;
    lock.packages[hoisted] = { version: spec, optional: true, os: [os], cpu: [cpu] };
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} foreign-platform entries`);
