import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The unpacked image (tools/image/unpack.sh: an OCI bundle), and a way to start its programs as a
 * container runtime would, since none can run here: the image's own environment, user and
 * arguments from the bundle's config.json, the root file system bind-mounted read-only in a mount
 * namespace of its own, tmpfs on /tmp and host folders on the declared volumes, then chroot as the
 * image's user. The shell and mount commands run on the host: the image has no shell.
 */
export const BUNDLE = process.env['WINNOW_IMAGE_BUNDLE'] ?? join(__dirname, '..', '..', 'build', 'image', 'bundle');

export function imageAvailable(): boolean {
  return existsSync(join(BUNDLE, 'config.json')) && existsSync(join(BUNDLE, 'rootfs'));
}

export interface ImageConfig {
  args: string[];
  env: Record<string, string>;
  user: { uid: number; gid: number };
  cwd: string;
}

export function imageConfig(): ImageConfig {
  const c = JSON.parse(readFileSync(join(BUNDLE, 'config.json'), 'utf8')) as { process: { args: string[]; env: string[]; user: { uid: number; gid: number }; cwd: string } };
  const env: Record<string, string> = {};
  for (const kv of c.process.env) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { args: c.process.args, env, user: c.process.user, cwd: c.process.cwd };
}

/** Host tools by absolute path: the processes get the image's environment, PATH included. */
const hostTool = (name: string) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
let tools: { unshare: string; sh: string; mount: string; chroot: string } | undefined;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ImageProcess {
  proc: ChildProcess;
  output: string[];
  /** Resolves with the first stdout line that matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

/**
 * Runs the image's entrypoint with `args` in place of its default arguments (or `command` in place
 * of the whole), with extra environment and host folders mounted on volumes.
 */
export function runImage(opts: { args?: string[]; command?: string[]; env?: Record<string, string>; volumes?: Record<string, string> }): ImageProcess {
  const cfg = imageConfig();
  const rootfs = join(BUNDLE, 'rootfs');
  // The entrypoint is node, its flags and the CLI's main.js; the default arguments follow.
  const entry = cfg.args.findIndex((a) => a.endsWith('/main.js')) + 1;
  if (entry === 0) throw new Error(`the image's arguments name no main.js: ${cfg.args.join(' ')}`);
  const argv = opts.command ?? [...cfg.args.slice(0, entry), ...(opts.args ?? cfg.args.slice(entry))];
  tools ??= { unshare: hostTool('unshare'), sh: hostTool('sh'), mount: hostTool('mount'), chroot: hostTool('chroot') };
  const mount = tools.mount;
  const mounts = [
    `${mount} --bind ${quote(rootfs)} ${quote(rootfs)}`,
    `${mount} -o remount,bind,ro ${quote(rootfs)} ${quote(rootfs)}`,
    `${mount} -t tmpfs -o mode=1777 tmpfs ${quote(join(rootfs, 'tmp'))}`,
    ...Object.entries(opts.volumes ?? {}).map(([inside, host]) => `${mount} --bind ${quote(host)} ${quote(join(rootfs, inside))}`),
  ];
  const script = `${mounts.join(' && ')} && cd / && exec ${tools.chroot} --userspec=${cfg.user.uid}:${cfg.user.gid} ${quote(rootfs)} ${argv.map(quote).join(' ')}`;
  const proc = spawn(tools.unshare, ['-m', tools.sh, '-c', script], { env: { ...cfg.env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters: Array<[RegExp, (l: string) => void]> = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => {
      output.push(l);
      for (const [re, ok] of waiters) if (re.test(l)) ok(l);
    });
  }
  const exited = new Promise<number | null>((ok) => proc.once('exit', (code) => ok(code)));
  return {
    proc,
    output,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      const seen = output.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((ok, fail) => {
        const t = setTimeout(() => fail(new Error(`no line matching ${pattern} in ${timeoutMs} ms; output:\n${output.join('\n')}`)), timeoutMs);
        waiters.push([pattern, (l) => (clearTimeout(t), ok(l))]);
        void exited.then((code) => fail(new Error(`exited with ${code} before ${pattern}; output:\n${output.join('\n')}`)));
      });
    },
  };
}
