import { openSync, renameSync, rmSync } from 'node:fs';

/** A file written beside its target and renamed over it once whole. */
export interface Replacement {
  /** Where to write (opened for writing, mode 0600). */
  fd: number;
  /** Renames the written file over the target; call once the fd is closed. */
  commit(): void;
  /** Removes the written file unless it was committed: the target stays as it was. */
  discard(): void;
}

/**
 * Opens `--out target` for replacing: a failed run never leaves a truncated file that looks like a
 * complete one. Opened at once, so a path that cannot be written fails before any work, with the
 * reason (`refused` is added to that message).
 */
export function replaceWhenWhole(target: string, refused = ''): Replacement {
  const partial = `${target}.partial-${process.pid}`;
  let fd: number;
  try {
    fd = openSync(partial, 'w', 0o600);
  } catch (err) {
    throw new Error(`--out ${target}: cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})${refused}`, { cause: err });
  }
  let committed = false;
  return {
    fd,
    commit: () => {
      renameSync(partial, target);
      committed = true;
    },
    discard: () => {
      if (!committed) rmSync(partial, { force: true });
    },
  };
}
