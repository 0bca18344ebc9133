import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const deploy = join(__dirname, '..', '..', 'deploy');

/**
 * What `kubectl kustomize` renders for an overlay of deploy/ that uses the grpc-mtls component, as a
 * user's overlay would (kustomize wants relative paths, and no overlay inside the root it builds).
 */
export function renderWithMtls(): string {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-overlay-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(dir, deploy)}\ncomponents:\n  - ${relative(dir, join(deploy, 'components', 'grpc-mtls'))}\n`,
    );
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
