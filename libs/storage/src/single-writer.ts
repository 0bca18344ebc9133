import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A second writer where the store cannot take one: the embedded store (its batches read counters
 * before they write them) and MongoDB without transactions (standalone servers, FerretDB: a batch
 * goes through the journal one at a time). Such a store refuses to open for a second process rather
 * than leave the counters to luck; MongoDB replica sets take any number of writers.
 */
export class SecondWriterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecondWriterError';
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The embedded store's writer lock: a file in its folder naming the process that writes. A lock left
 * by a process that is gone (a crash, a pod restarted as the same pid) is taken over.
 */
export class FolderWriterLock {
  private readonly file: string;
  private held = false;

  constructor(dir: string) {
    this.file = join(dir, 'writer.lock');
  }

  acquire(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.file, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(readFileSync(this.file, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new SecondWriterError(
            `another process (pid ${pid}) writes to the embedded store in ${join(this.file, '..')}: it takes one writer. Run one stats replica on it, or use MongoDB (a replica set takes several)`,
          );
        }
        rmSync(this.file, { force: true }); // stale: its writer is gone
      }
    }
    throw new SecondWriterError(`could not take the embedded store's writer lock ${this.file}`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    rmSync(this.file, { force: true });
  }
}
