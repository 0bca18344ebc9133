import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort } from '@winnow/testing';

/**
 * A real Kubernetes API server (kube-apiserver and etcd, built from the Go module proxy by
 * tools/kube/build.sh; see shared/kube-apiserver.md) on loopback, for the CRD, manifest and operator
 * tests. No kubelet, scheduler or controller-manager: pods never run and owned objects are not
 * garbage-collected; validation, CEL, defaulting, finalizers, status, RBAC and dry-run behave as in
 * a cluster.
 */
export const KUBE_BIN = process.env['WINNOW_KUBE_BIN'] ?? join(homedir(), '.cache', 'winnow-kube', 'v1.37.2-etcd-v3.7.0');

/** Whether the binaries are here; without them the suites skip with a notice (and fail under CI=true). */
export function kubeAvailable(): boolean {
  return existsSync(join(KUBE_BIN, 'kube-apiserver')) && existsSync(join(KUBE_BIN, 'etcd'));
}

export function kubeMissingNotice(): string {
  return `no kube-apiserver in ${KUBE_BIN}: run tools/kube/build.sh (about 5 minutes cold) or set WINNOW_KUBE_BIN`;
}


export interface KubeServer {
  url: string;
  /** The admin token (system:masters). */
  token: string;
  /** The server's self-signed certificate, to trust. */
  ca: string;
  /** A kubeconfig file for kubectl, with the admin token (or another user's). */
  kubeconfigFile(user?: string): string;
  /** A client-node KubeConfig, with the admin token or another user's token (see users). */
  kubeConfig(namespace: string, user?: string): KubeConfig;
  /** Runs kubectl against the server; returns stdout, rejects with stderr. */
  kubectl(args: string[], input?: string, user?: string): Promise<string>;
  stop(): Promise<void>;
}

/** Extra users for RBAC tests: name -> token. Each is authenticated; what it may do is up to RBAC. */
export interface StartOptions {
  users?: Record<string, { token: string; groups?: string[] }>;
}

export async function startKube(opts: StartOptions = {}): Promise<KubeServer> {
  const dir = mkdtempSync(join(tmpdir(), 'winnow-kube-'));
  const [etcdClient, etcdPeer, port] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString('hex');
  const users = { admin: { token, groups: ['system:masters'] }, ...(opts.users ?? {}) };
  writeFileSync(join(dir, 'tokens.csv'), Object.entries(users).map(([name, u]) => `${u.token},${name},${name}${u.groups?.length ? `,"${u.groups.join(',')}"` : ''}`).join('\n') + '\n');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const logs: string[] = [];
  const keep = (p: ChildProcess, name: string) => {
    p.stdout?.on('data', (d: Buffer) => logs.push(`${name}: ${d}`));
    p.stderr?.on('data', (d: Buffer) => {
      logs.push(`${name}: ${d}`);
      if (logs.length > 400) logs.splice(0, logs.length - 400);
    });
  };
  const etcd = spawn(join(KUBE_BIN, 'etcd'), [
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
    '--unsafe-no-fsync',
    '--log-level=error',
  ]);
  keep(etcd, 'etcd');
  const api = spawn(join(KUBE_BIN, 'kube-apiserver'), [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--advertise-address=127.0.0.1',
    '--endpoint-reconciler-type=none',
    `--cert-dir=${join(dir, 'certs')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--disable-admission-plugins=ServiceAccount',
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--v=0',
  ]);
  keep(api, 'kube-apiserver');
  const url = `https://127.0.0.1:${port}`;
  const stop = async () => {
    // The API server first: with etcd gone first it never finishes shutting down.
    for (const p of [api, etcd]) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((ok) => p.once('exit', ok));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const certFile = join(dir, 'certs', 'apiserver.crt');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (api.exitCode !== null || etcd.exitCode !== null) {
      await stop();
      throw new Error(`the Kubernetes API server exited while starting:\n${logs.join('').slice(-3000)}`);
    }
    if (existsSync(certFile) && (await ready(url, token, readFileSync(certFile, 'utf8')))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the Kubernetes API server did not become ready in 60 s:\n${logs.join('').slice(-3000)}`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  const ca = readFileSync(certFile, 'utf8');
  const tokenOf = (user = 'admin') => {
    const u = (users as Record<string, { token: string }>)[user];
    if (!u) throw new Error(`no user ${user}`);
    return u.token;
  };
  const kubeconfigFile = (user = 'admin') => {
    const file = join(dir, `kubeconfig-${user}`);
    if (!existsSync(file)) {
      const kc = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
        users: [{ name: user, user: { token: tokenOf(user) } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user } }],
        'current-context': 'test',
      };
      writeFileSync(file, JSON.stringify(kc));
    }
    return file;
  };
  return {
    url,
    token,
    ca,
    kubeconfigFile,
    kubeConfig(namespace: string, user = 'admin') {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'test', server: url, caData: Buffer.from(ca).toString('base64'), skipTLSVerify: false }],
        users: [{ name: user, token: tokenOf(user) }],
        contexts: [{ name: 'test', cluster: 'test', user, namespace }],
        currentContext: 'test',
      });
      return kc;
    },
    kubectl(args: string[], input?: string, user = 'admin') {
      return new Promise((ok, fail) => {
        const p = spawn('kubectl', ['--kubeconfig', kubeconfigFile(user), ...args]);
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (err += d));
        p.on('error', fail);
        p.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`kubectl ${args.join(' ')}: exit ${code}: ${err || out}`))));
        p.stdin.end(input ?? '');
      });
    },
    stop,
  };
}

function ready(url: string, token: string, ca: string): Promise<boolean> {
  return new Promise((ok) => {
    const req = request(`${url}/readyz`, { headers: { authorization: `Bearer ${token}` }, ca, timeout: 2_000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on('error', () => ok(false));
    req.on('timeout', () => {
      req.destroy();
      ok(false);
    });
    req.end();
  });
}

/**
 * A Go module's directory in the module cache (downloaded through the module proxy when missing):
 * the CRDs of other projects (prometheus-operator, Gateway API) come from their published modules.
 */
export function goModuleDir(module: string): string {
  const work = mkdtempSync(join(tmpdir(), 'winnow-gomod-'));
  try {
    writeFileSync(join(work, 'go.mod'), 'module winnow.local/crds\n');
    const out = execFileSync('go', ['mod', 'download', '-json', module], { cwd: work, encoding: 'utf8' });
    return (JSON.parse(out) as { Dir: string }).Dir;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The CRDs the chart's optional objects need: prometheus-operator's, Gateway API's and cert-manager's. */
export const THIRD_PARTY_CRDS = {
  prometheusOperator: () => join(goModuleDir('github.com/prometheus-operator/prometheus-operator@v0.85.0'), 'example', 'prometheus-operator-crd'),
  gatewayApi: () => join(goModuleDir('sigs.k8s.io/gateway-api@v1.6.3'), 'config', 'crd', 'standard'),
  certManager: () => join(goModuleDir('github.com/cert-manager/cert-manager@v1.19.1'), 'deploy', 'crds'),
};
