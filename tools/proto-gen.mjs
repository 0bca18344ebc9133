#!/usr/bin/env node
// Regenerates libs/proto/src/gen from proto/ with buf and protoc-gen-es (both from node_modules).
// With --check, generates into a temporary copy and fails if the committed code differs.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const rootFlag = process.argv.indexOf('--root');
// --root DIR checks another copy of the workspace (the test suite uses it to prove the check fails).
const root = rootFlag === -1 ? repo : process.argv[rootFlag + 1];
const bin = join(repo, 'node_modules', '.bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

if (process.argv.includes('--check')) {
  const work = mkdtempSync(join(tmpdir(), 'winnow-proto-'));
  try {
    for (const f of ['buf.yaml', 'buf.gen.yaml']) cpSync(join(root, f), join(work, f));
    cpSync(join(root, 'proto'), join(work, 'proto'), { recursive: true });
    execFileSync('buf', ['generate'], { cwd: work, env, stdio: 'inherit' });
    const fresh = join(work, 'libs/proto/src/gen');
    const committed = join(root, 'libs/proto/src/gen');
    const a = listFiles(fresh).map((f) => relative(fresh, f));
    const b = listFiles(committed).map((f) => relative(committed, f));
    const stale = [];
    for (const f of new Set([...a, ...b])) {
      const x = a.includes(f) ? readFileSync(join(fresh, f), 'utf8') : null;
      const y = b.includes(f) ? readFileSync(join(committed, f), 'utf8') : null;
      if (x !== y) stale.push(f);
    }
    if (stale.length > 0) {
      console.error(`generated code is stale (run npm run proto:gen): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('generated code is current');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} else {
  execFileSync('buf', ['generate'], { cwd: root, env, stdio: 'inherit' });
}
