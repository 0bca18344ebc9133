import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = `${join(__dirname, '..', '..')}/`;
const bin = join(root, 'node_modules', '.bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

function copyWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-proto-check-'));
  for (const f of ['buf.yaml', 'buf.gen.yaml']) cpSync(join(root, f), join(dir, f));
  cpSync(join(root, 'proto'), join(dir, 'proto'), { recursive: true });
  cpSync(join(root, 'libs/proto/src/gen'), join(dir, 'libs/proto/src/gen'), { recursive: true });
  return dir;
}

const check = (dir: string) => spawnSync('node', [join(root, 'tools/proto-gen.mjs'), '--check', '--root', dir], { env, encoding: 'utf8' });

describe('protocol', () => {
  it('passes buf lint', () => {
    expect(() => execFileSync('buf', ['lint'], { cwd: root, env, encoding: 'utf8' })).not.toThrow();
  });

  it('has generated code that matches proto/', () => {
    const r = check(root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('notices generated code that is stale', () => {
    const dir = copyWorkspace();
    try {
      const file = join(dir, 'proto/winnow/edge/v1/edge.proto');
      writeFileSync(file, readFileSync(file, 'utf8').replace('string recipient_domain = 15;', 'string recipient_domain = 15;\n  string added_field = 16;'));
      const r = check(dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/stale.*edge_pb\.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a proto that breaks the lint rules', () => {
    const dir = copyWorkspace();
    try {
      writeFileSync(join(dir, 'proto/winnow/edge/v1/bad.proto'), 'syntax = "proto3";\npackage winnow.edge.v1;\nmessage bad_name { string X = 1; }\n');
      const r = spawnSync('buf', ['lint'], { cwd: dir, env, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/PascalCase|lower_snake_case/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
