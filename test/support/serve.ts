import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The built command line, as the image starts it. */
export const CLI = join(__dirname, '..', '..', 'apps', 'cli', 'dist', 'main.js');

/**
 * Starts `winnow serve SERVICE` as its own process with `env` over this process's environment, and
 * resolves once it prints where it listens. `onLine` gets every line it writes (standard output and
 * error). A process that exits first rejects with the end of what it wrote on standard error.
 */
export async function serveProcess(service: string, env: Record<string, string>, onLine?: (line: string) => void): Promise<ChildProcess> {
  const p = spawn(process.execPath, [CLI, 'serve', service], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrTail = '';
  createInterface({ input: p.stderr! }).on('line', (l) => {
    stderrTail = `${stderrTail}${l}\n`.slice(-4000);
    onLine?.(l);
  });
  await new Promise<void>((ok, fail) => {
    createInterface({ input: p.stdout! }).on('line', (l) => {
      onLine?.(l);
      if (l.includes('"listening"')) ok();
    });
    p.once('exit', (code) => fail(new Error(`${service} exited with ${code} before listening: ${stderrTail}`)));
  });
  return p;
}

/** Resolves with the exit code, or the signal, once the process has ended (at once if it has). */
export function exited(p: ChildProcess): Promise<number | string | null> {
  return new Promise((ok) => (p.exitCode !== null || p.signalCode !== null ? ok(p.exitCode ?? p.signalCode) : p.once('exit', (code, signal) => ok(code ?? signal))));
}

/** Sends `signal` (default SIGKILL) unless the process has ended, and waits until it has. */
export async function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) p.kill(signal);
  await exited(p);
}

/** Runs the built command line to its end with `input` on standard input and `env` over this process's environment. */
export function runCli(args: string[], input = '', env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}
