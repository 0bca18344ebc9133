import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = `${join(__dirname, '..', '..')}/`;
const BOUNDARY = '@nx/enforce-module-boundaries';

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === BOUNDARY).map((m) => m.message);
}

describe('Nx module boundaries are enforced by lint', () => {
  beforeAll(() => {
    // The rule reads Nx's project graph and silently skips itself without one: build it first.
    execFileSync('npx', ['nx', 'show', 'projects'], { cwd: root, env: { ...process.env, NX_DAEMON: 'false' }, stdio: 'ignore' });
  }, 120_000);

  it('lets a domain library import domain and protocol code', async () => {
    expect(await boundaryErrors('libs/engagement/src/probe.ts', "import { Source } from '@winnow/proto';\nimport { sealToken } from '@winnow/tokens';\nexport { Source, sealToken };\n")).toEqual([]);
  });

  it('stops a domain library importing infrastructure, Nest or a database driver', async () => {
    const errors = await boundaryErrors(
      'libs/engagement/src/probe.ts',
      "import { createRegistry } from '@winnow/observability';\nimport { Injectable } from '@nestjs/common';\nimport { open } from 'lmdb';\nexport { createRegistry, Injectable, open };\n",
    );
    expect(errors).toHaveLength(3);
    expect(errors.join('\n')).toMatch(/can only depend on libs tagged/);
    expect(errors.join('\n')).toMatch(/not allowed to import "lmdb"/);
    expect(errors.join('\n')).toMatch(/@nestjs\/common/);
  });

  it('stops an app importing another app, and infrastructure importing an app', async () => {
    expect(await boundaryErrors('apps/cli/src/probe.ts', "import { startStats } from '@winnow/stats';\nexport { startStats };\n")).toHaveLength(1);
    expect(await boundaryErrors('libs/storage/src/probe.ts', "import { startCollector } from '@winnow/collector';\nexport { startCollector };\n")).toHaveLength(1);
  });
});
