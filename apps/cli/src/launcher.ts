import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadClassifierConfig, loadCollectorConfig, loadStatsConfig, type Env } from '@winnow/config';
import { freePort } from '@winnow/http-util';

/**
 * Node flags for every service process, as the image's entrypoint gives them (Containerfile): a
 * young generation of 64 MiB semi-spaces from the start. V8 otherwise starts at 1 MiB and grows only
 * as far as it sees fit (the collector stayed near 8 MiB under load), and each of the many small
 * collections costs a few milliseconds however little survives; a batch of 1,000 events in flight in
 * stats also outlives fewer of them. In a 10 s pipeline run, the services' collection pauses fell from
 * about 42 to 28 µs per event (docs/architecture.md, "Session 20"). Up to 128 MiB more memory per
 * service, within the chart's limits.
 */
export const SERVICE_NODE_ARGS = ['--max-semi-space-size=64', '--min-semi-space-size=64'];

/**
 * How far below the collector the two batch services (classifier, stats) run when the launcher
 * starts all three on one machine: their nice value is raised by this much. The collector answers
 * each request once its event is on disk, so every moment it waits for a CPU behind a batch of
 * 1,000 events being classified or stored is latency its 64 clients (and the senders' mail
 * clients) wait too. The batch services take their work 1,000 events at a time and answer per
 * batch, so running in the gaps costs them little; should they fall behind, the events wait in the
 * collector's spool, on disk. Measured in bench:pipeline (docs/architecture.md, "Session 19"). In
 * Kubernetes the services run in pods of their own and this does not apply.
 */
export const BATCH_SERVICE_NICE = 5;

/** The services in start order: each one's clients need the one before. */
export const SERVICES = ['stats', 'classifier', 'collector'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface StackPorts {
  statsGrpc: number;
  statsHttp: number;
  classifierGrpc: number;
  classifierHttp: number;
  collectorHttp: number;
  collectorOps: number;
}

/** The ports each service would pick from the same environment variables it reads itself. */
export function configuredPorts(env: Env = process.env): StackPorts {
  const stats = loadStatsConfig(env);
  const classifier = loadClassifierConfig(env);
  const collector = loadCollectorConfig(env);
  return {
    statsGrpc: stats.grpcPort,
    statsHttp: stats.httpPort,
    classifierGrpc: classifier.grpcPort,
    classifierHttp: classifier.httpPort,
    collectorHttp: collector.httpPort,
    collectorOps: collector.opsPort,
  };
}

export async function freePorts(): Promise<StackPorts> {
  return {
    statsGrpc: await freePort(),
    statsHttp: await freePort(),
    classifierGrpc: await freePort(),
    classifierHttp: await freePort(),
    collectorHttp: await freePort(),
    collectorOps: await freePort(),
  };
}

function envFor(name: ServiceName, ports: StackPorts, dataDir: string): Record<string, string> {
  const stats = `127.0.0.1:${ports.statsGrpc}`;
  switch (name) {
    case 'stats':
      return { WINNOW_STATS_GRPC_PORT: String(ports.statsGrpc), WINNOW_STATS_HTTP_PORT: String(ports.statsHttp), WINNOW_DATA_DIR: dataDir };
    case 'classifier':
      return { WINNOW_CLASSIFIER_GRPC_PORT: String(ports.classifierGrpc), WINNOW_CLASSIFIER_HTTP_PORT: String(ports.classifierHttp), WINNOW_STATS_ADDR: stats };
    case 'collector':
      return {
        WINNOW_COLLECTOR_PORT: String(ports.collectorHttp),
        WINNOW_COLLECTOR_OPS_PORT: String(ports.collectorOps),
        WINNOW_CLASSIFIER_ADDR: `127.0.0.1:${ports.classifierGrpc}`,
        WINNOW_STATS_ADDR: stats,
        WINNOW_SPOOL_DIR: join(dataDir, 'spool'),
      };
  }
}

export interface Stack {
  ports: StackPorts;
  /** SIGTERM to each service, collector first; resolves when all have exited. */
  stop(): Promise<void>;
  /** Resolves with the name of the first service that exits on its own. */
  readonly exited: Promise<ServiceName>;
}

export interface LaunchOptions {
  ports: StackPorts;
  dataDir: string;
  /** Extra environment for every service (e.g. WINNOW_TRUSTED_PROXIES for the demo). */
  env?: Record<string, string>;
  /** Where service log lines go; default: dropped. */
  onLog?: (service: ServiceName, line: string) => void;
  /** Extra node flags for every service (benchmarks: --cpu-prof). */
  nodeArgs?: string[];
  /** How far the classifier's and stats' nice values are raised; default BATCH_SERVICE_NICE, 0 for none. */
  batchNice?: number;
}

/**
 * Raises the nice value of every thread of a process by `by` (Linux's nice is per thread: the
 * process's threads that exist now are each changed, and threads started later inherit their
 * creator's). Where /proc cannot be read, only the process's main thread.
 */
export function lowerPriority(pid: number, by: number): void {
  let threads: number[];
  try {
    threads = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    threads = [pid];
  }
  for (const tid of threads) {
    try {
      setPriority(tid, Math.min(19, getPriority(tid) + by));
    } catch {
      // A thread that ended meanwhile.
    }
  }
}

/** Starts the built services as child processes and waits until each says where it listens. */
export async function launchStack(opts: LaunchOptions): Promise<Stack> {
  const children: Array<[ServiceName, ChildProcess]> = [];
  let onExit: (name: ServiceName) => void = () => undefined;
  const exited = new Promise<ServiceName>((resolve) => (onExit = resolve));
  const stop = async () => {
    for (const [, child] of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await gone;
    }
  };
  try {
    for (const name of SERVICES) {
      const main = join(__dirname, '..', '..', name, 'dist', 'main.js');
      const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, ...(opts.nodeArgs ?? []), main], {
        env: { ...process.env, ...envFor(name, opts.ports, opts.dataDir), ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push([name, child]);
      child.once('exit', () => onExit(name));
      await new Promise<void>((resolve, reject) => {
        const out = createInterface({ input: child.stdout! });
        const err = createInterface({ input: child.stderr! });
        const failed = (code: number | null) => reject(new Error(`${name} exited with code ${code} before it listened`));
        child.once('exit', failed);
        let listening = false;
        out.on('line', (line) => {
          if (!listening && line.includes('"listening"') && line.includes(`"service":"${name}"`)) {
            listening = true;
            child.off('exit', failed);
            // Once: a second line saying so must not lower it again.
            const nice = opts.batchNice ?? BATCH_SERVICE_NICE;
            if (name !== 'collector' && nice > 0 && child.pid !== undefined) lowerPriority(child.pid, nice);
            resolve();
          }
          opts.onLog?.(name, line);
        });
        err.on('line', (line) => opts.onLog?.(name, line));
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports: opts.ports, stop, exited };
}
