import { closeSync, constants, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, write, writeFileSync, writev } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { frame, parseAt } from './record-framing';

export interface SpoolOptions {
  dir: string;
  /** A new segment file starts past this size. */
  segmentBytes: number;
  /** Unacknowledged bytes on disk, at most; appends beyond it are refused. */
  maxBytes: number;
  /** Wait for fdatasync before an append resolves (durable capture). */
  sync: boolean;
}

export interface SpoolRecord {
  seq: number;
  payload: Buffer;
}

export interface RecoveryReport {
  /** Records found on disk that were never acknowledged: they will be sent again. */
  pending: number;
  /** Bytes cut from the end of the last segment (a write torn by a crash). */
  truncatedBytes: number;
}

interface Segment {
  firstSeq: number;
  path: string;
  /** Bytes of whole records: the next record goes here. */
  bytes: number;
  /** Bytes the file holds: the records, then (in sync mode) zeros written ahead of them. */
  size: number;
}

const SEGMENT = /^(\d{20})\.seg$/;
const segmentName = (firstSeq: number) => `${String(firstSeq).padStart(20, '0')}.seg`;
const READ_CHUNK = 1024 * 1024;
const CHECKPOINT_EVERY_MS = 100;
/**
 * Segments open for writing. In sync mode with O_DSYNC (Linux, macOS) each write returns only
 * once its data is on disk, so a group commit is one write on the thread pool instead of a write
 * and then an fdatasync, two round trips through the event loop. Where O_DSYNC is missing the
 * spool writes and then calls fdatasync. Records are written at their offset (not O_APPEND): in
 * sync mode the file already holds zeros there (PREPARE_BYTES).
 */
const WRITE = constants.O_WRONLY | constants.O_CREAT;
const DSYNC: number | undefined = constants.O_DSYNC;
/**
 * In sync mode a segment is filled with zeros this far ahead of its records, one durable write at a
 * time, and records then overwrite them. A synced write that makes a file longer must also commit
 * the file's new size, which on ext4 is a journal commit shared with every other file on the disk:
 * with the embedded store's flushes on the same disk, the collector's group commits took ~8 ms each
 * under load instead of ~0.3 ms, and every answer waited for them. Overwriting changes no metadata,
 * so each group commit then writes only its own data (and it is about twice as fast on an idle disk
 * here: ~150 against ~280 µs). PostgreSQL fills new WAL segments with zeros for the same reason
 * (its `wal_init_zero` setting). docs/architecture.md, "Session 14".
 */
const PREPARE_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
/**
 * After zeros could not be written (a disk too full for them, most likely), records are written by
 * extending the file as before (each group commit then also commits the file's size), and zeros are
 * tried again this much later.
 */
const PREPARE_RETRY_MS = 10_000;

/**
 * An append-only, segmented, checksummed log of captured events on local disk.
 *
 * Records get consecutive sequence numbers. Appends are group-committed: everything appended while
 * a write is in flight goes out in the next single write + fdatasync. A reader follows the log in
 * order; `ack(seq)` records that everything up to seq is stored downstream (a small checkpoint
 * file) and deletes segments that hold nothing newer. A record acknowledged but not checkpointed
 * before a crash is sent again after restart: downstream deduplicates by event id.
 */
export class Spool {
  private segments: Segment[] = [];
  private fd = -1;
  private nextSeq = 1;
  /** Last seq whose bytes are written (and, in sync mode, synced). */
  private writtenSeq = 0;
  private ackedSeq = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiters: Array<(err?: Error) => void> = [];
  private flushing: Promise<void> | undefined;
  private unackedBytes = 0;
  private closed = false;
  private cursor: { seq: number; segment: number; offset: number } | undefined;
  private readHandle: { path: string; handle: FileHandle } | undefined;
  private onWritten: Array<() => void> = [];
  private checkpointedAt = 0;
  /** The newest segment was closed after a write failed and could not be cut back: start another. */
  private abandoned = false;
  /** No zeros are written ahead before this time (the last attempt failed). */
  private prepareAgainAt = 0;
  /** How many times zeros could not be written ahead (records were then written by extending the file). */
  zeroFailures = 0;
  /** Whether writes to the open segment are synchronous (O_DSYNC): no fdatasync after them. */
  private readonly dsync: boolean;

  constructor(private readonly opts: SpoolOptions) {
    this.dsync = opts.sync && DSYNC !== undefined;
  }

  /** Opens a segment for writing (mode 0600; `extra` flags, e.g. O_TRUNC, added). */
  private openForWrite(path: string, extra = 0): number {
    return openSync(path, (this.dsync ? WRITE | DSYNC! : WRITE) | extra, 0o600);
  }

  /** Opens the directory, repairs a torn tail and positions the reader after the checkpoint. */
  open(): RecoveryReport {
    mkdirSync(this.opts.dir, { recursive: true });
    const names = readdirSync(this.opts.dir).filter((n) => SEGMENT.test(n)).sort();
    this.segments = names.map((n) => {
      const path = join(this.opts.dir, n);
      return { firstSeq: Number(SEGMENT.exec(n)![1]), path, bytes: 0, size: 0 };
    });
    const checkpoint = join(this.opts.dir, 'acked');
    this.ackedSeq = 0;
    try {
      this.ackedSeq = Number(readFileSync(checkpoint, 'utf8').trim()) || 0;
    } catch {
      // No checkpoint yet: nothing was acknowledged.
    }
    let truncatedBytes = 0;
    let lastSeq = this.segments.length > 0 ? this.segments[0]!.firstSeq - 1 : this.ackedSeq;
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      const buf = readFileSync(seg.path);
      // A segment holds the records up to the next one's first sequence number. Anything after
      // them is a write that failed (and that could not be cut back then): its events were never
      // reported as captured, and their numbers went to the next segment.
      const room = i + 1 < this.segments.length ? this.segments[i + 1]!.firstSeq - seg.firstSeq : Infinity;
      let offset = 0;
      let count = 0;
      for (;;) {
        const r = count < room ? parseAt(buf, offset) : undefined;
        if (r?.kind !== 'record') {
          if (offset < buf.length) {
            // A write torn by a crash or left by a failed write, and the zeros written ahead of the
            // records (not counted as torn): cut them off.
            truncatedBytes += endOfData(buf, offset) - offset;
            const fd = openSync(seg.path, 'r+');
            ftruncateSync(fd, offset);
            fdatasyncSync(fd);
            closeSync(fd);
          }
          break;
        }
        offset += r.bytes;
        count++;
      }
      seg.bytes = offset;
      seg.size = offset;
      lastSeq = seg.firstSeq + count - 1;
    }
    this.nextSeq = Math.max(lastSeq, this.ackedSeq) + 1;
    this.writtenSeq = this.nextSeq - 1;
    this.ackedSeq = Math.min(this.ackedSeq, this.writtenSeq);
    this.dropAckedSegments();
    this.unackedBytes = this.segments.reduce((n, s) => n + s.bytes, 0);
    this.cursor = undefined;
    return { pending: this.writtenSeq - this.ackedSeq, truncatedBytes };
  }

  /** Sequence numbers not yet acknowledged (captured, not yet stored downstream). */
  get depth(): number {
    return this.nextSeq - 1 - this.ackedSeq;
  }

  /** Bytes of segment files on disk (whole segments are deleted once acknowledged), plus appends in flight. */
  get bytes(): number {
    return this.unackedBytes + this.pendingBytes;
  }

  get lastWrittenSeq(): number {
    return this.writtenSeq;
  }

  /**
   * Appends one record. Resolves once written (and synced, in sync mode), with its sequence number;
   * returns undefined at once when the spool is full (nothing is written).
   */
  append(payload: Uint8Array): Promise<number> | undefined {
    let resolve!: (seq: number) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<number>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const seq = this.appendThen(payload, (err) => (err ? reject(err) : resolve(seq)));
    return seq === 0 ? undefined : done;
  }

  /**
   * append() with a callback instead of a promise (the collector's hot path: one fewer promise
   * per request). Returns the record's sequence number, or 0 when the spool is full (nothing is
   * written and `written` is never called).
   */
  appendThen(payload: Uint8Array, written: (err?: Error) => void): number {
    if (this.closed) throw new Error('spool is closed');
    const framed = frame(payload);
    if (this.bytes + framed.length > this.opts.maxBytes) return 0;
    const seq = this.nextSeq++;
    this.pending.push(framed);
    this.pendingBytes += framed.length;
    this.waiters.push(written);
    this.scheduleFlush();
    return seq;
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0) this.scheduleFlush();
    });
  }

  private async flushLoop(): Promise<void> {
    // Let the current tick's appends join this write.
    await new Promise<void>((ok) => setImmediate(ok));
    while (this.pending.length > 0) {
      const batch = this.pending;
      const waiters = this.waiters;
      const bytes = this.pendingBytes;
      this.pending = [];
      this.waiters = [];
      this.pendingBytes = 0;
      const count = batch.length;
      try {
        this.ensureSegment(bytes);
        const seg = this.segments[this.segments.length - 1]!;
        if (this.opts.sync && seg.bytes + bytes > seg.size && Date.now() >= this.prepareAgainAt) await this.prepare(seg, bytes);
        await writeAllAt(this.fd, batch, bytes, seg.bytes);
        if (this.opts.sync && !this.dsync) await syncData(this.fd);
        seg.bytes += bytes;
        if (seg.bytes > seg.size) seg.size = seg.bytes;
        this.unackedBytes += bytes;
        this.writtenSeq += count;
      } catch (err) {
        // The records were never written: give their sequence numbers back and fail the appends.
        this.discardTornTail();
        this.nextSeq -= count + this.pending.length;
        const failed = [...waiters, ...this.waiters];
        this.pending = [];
        this.waiters = [];
        this.pendingBytes = 0;
        for (const w of failed) callSafely(w, err as Error);
        continue;
      }
      // Outside the write's try: a callback that throws must not pass for a failed write (which
      // would hand back sequence numbers already on disk and call every waiter a second time).
      for (const w of waiters) callSafely(w);
      for (const cb of this.onWritten.splice(0)) callSafely(cb);
    }
  }

  /**
   * After a failed write, part of it may have reached the file: cut the segment back to its last
   * whole record, or the next records would land after a torn one (and a restart would cut them
   * off with it). When even that fails the segment is closed as it is (recovery cuts its tail) and
   * the next write starts a new one.
   */
  private discardTornTail(): void {
    const last = this.segments[this.segments.length - 1];
    if (this.fd === -1 || !last) return;
    try {
      ftruncateSync(this.fd, last.bytes);
      last.size = last.bytes;
    } catch {
      try {
        closeSync(this.fd);
      } catch {
        // Already unusable.
      }
      this.fd = -1;
      this.abandoned = true;
    }
  }

  private ensureSegment(incoming: number): void {
    const last = this.segments[this.segments.length - 1];
    const fits = last !== undefined && last.bytes + incoming <= this.opts.segmentBytes;
    if (this.abandoned && last) {
      // The newest segment may end in a torn write that could not be cut: never append to it
      // (one with no whole record in it is emptied and reused: its name is the next sequence).
      if (last.bytes === 0) {
        this.fd = this.openForWrite(last.path, constants.O_TRUNC);
        last.size = 0;
        this.abandoned = false;
        return;
      }
    } else if (this.fd !== -1) {
      if (fits) return;
      this.closeSegment(last!);
    } else if (last && (fits || last.bytes === 0)) {
      // After a restart: keep appending to the newest segment.
      this.fd = this.openForWrite(last.path);
      return;
    }
    const seg: Segment = { firstSeq: this.writtenSeq + 1, path: join(this.opts.dir, segmentName(this.writtenSeq + 1)), bytes: 0, size: 0 };
    this.fd = this.openForWrite(seg.path);
    this.segments.push(seg);
    this.abandoned = false;
    // A new file's name is durable only once its directory is synced (once per segment).
    if (this.opts.sync) syncDirectory(this.opts.dir);
  }

  /**
   * Writes zeros after the segment's records (PREPARE_BYTES at a time, and never much past the
   * segment size) until `incoming` more bytes fit in them. Only the flush loop calls it, between two
   * writes of records, so nothing else writes to or closes the file meanwhile. The size moves only
   * once the zeros are on disk (the descriptor is O_DSYNC, or they are synced here).
   */
  private async prepare(seg: Segment, incoming: number): Promise<void> {
    // The zeros count toward maxBytes: records not yet acknowledged, these, and the zeros stay within it.
    const room = Math.max(0, this.opts.maxBytes - this.unackedBytes - incoming);
    const target = Math.max(seg.bytes + incoming, Math.min(seg.size + PREPARE_BYTES, this.opts.segmentBytes, seg.bytes + incoming + room));
    if (target <= seg.size) return;
    const parts: Buffer[] = [];
    for (let left = target - seg.size; left > 0; left -= ZEROS.length) parts.push(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
    try {
      await writeAllAt(this.fd, parts, target - seg.size, seg.size);
      if (!this.dsync) await syncData(this.fd);
    } catch {
      // A disk too full for the zeros may still hold the records: they are written by extending the
      // file, as without zeros, and zeros are tried again later. Whatever part of the zeros reached
      // the file is given back to the disk (zeros past the records are harmless if that fails too:
      // recovery and closing cut them).
      this.prepareAgainAt = Date.now() + PREPARE_RETRY_MS;
      this.zeroFailures++;
      try {
        ftruncateSync(this.fd, seg.size);
      } catch {
        // Left as it is.
      }
      return;
    }
    seg.size = target;
  }

  /** Closes the open segment, leaving on disk only its records (the zeros ahead of them cut off). */
  private closeSegment(seg: Segment): void {
    if (seg.size > seg.bytes) {
      ftruncateSync(this.fd, seg.bytes);
      seg.size = seg.bytes;
      fdatasyncSync(this.fd);
    } else if (!this.dsync) fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Resolves when records beyond `seq` are written, or after timeoutMs. */
  waitForRecordsAfter(seq: number, timeoutMs: number): Promise<void> {
    if (this.writtenSeq > seq) return Promise.resolve();
    return new Promise((resolve) => {
      const written = () => {
        clearTimeout(t);
        resolve();
      };
      // A wait that times out takes its callback back: an idle collector waits over and over.
      const t = setTimeout(() => {
        const i = this.onWritten.indexOf(written);
        if (i !== -1) this.onWritten.splice(i, 1);
        resolve();
      }, timeoutMs);
      this.onWritten.push(written);
    });
  }

  /**
   * Reads up to `max` written records after the last one read (after the checkpoint at first), and
   * no more payload bytes than `maxBytes` (but always one record, whatever its size).
   */
  async read(max: number, maxBytes = Infinity): Promise<SpoolRecord[]> {
    if (!this.cursor) this.cursor = await this.locate(this.ackedSeq + 1);
    const out: SpoolRecord[] = [];
    let bytes = 0;
    while (out.length < max && this.cursor.seq <= this.writtenSeq) {
      const seg = this.segments[this.cursor.segment];
      if (!seg) break;
      if (this.cursor.offset >= seg.bytes) {
        this.cursor = { seq: this.cursor.seq, segment: this.cursor.segment + 1, offset: 0 };
        continue;
      }
      const handle = await this.handleFor(seg.path);
      const want = Math.min(READ_CHUNK, seg.bytes - this.cursor.offset);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, this.cursor.offset);
      const chunk = buf.subarray(0, bytesRead);
      let off = 0;
      while (out.length < max && this.cursor.seq <= this.writtenSeq) {
        const r = parseAt(chunk, off);
        if (r.kind === 'partial') break;
        if (r.kind === 'corrupt') throw new Error(`spool segment ${seg.path} is corrupt at ${this.cursor.offset + off}: ${r.reason}`);
        if (out.length > 0 && bytes + r.payload.length > maxBytes) {
          this.cursor.offset += off;
          return out;
        }
        bytes += r.payload.length;
        out.push({ seq: this.cursor.seq, payload: Buffer.from(r.payload) });
        off += r.bytes;
        this.cursor.seq++;
      }
      this.cursor.offset += off;
      if (off === 0) break;
    }
    return out;
  }

  private async handleFor(path: string): Promise<FileHandle> {
    if (this.readHandle?.path === path) return this.readHandle.handle;
    await this.readHandle?.handle.close();
    this.readHandle = { path, handle: await open(path, 'r') };
    return this.readHandle.handle;
  }

  /** Finds segment and byte offset of `seq` by scanning its segment from the start. */
  private async locate(seq: number): Promise<{ seq: number; segment: number; offset: number }> {
    let idx = this.segments.findIndex((s, i) => s.firstSeq <= seq && (this.segments[i + 1]?.firstSeq ?? Infinity) > seq);
    if (idx === -1) idx = this.segments.length;
    const seg = this.segments[idx];
    if (!seg) return { seq, segment: idx, offset: 0 };
    const buf = readFileSync(seg.path).subarray(0, seg.bytes);
    let offset = 0;
    for (let s = seg.firstSeq; s < seq; s++) {
      const r = parseAt(buf, offset);
      if (r.kind !== 'record') break;
      offset += r.bytes;
    }
    return { seq, segment: idx, offset };
  }

  /**
   * Everything up to and including `seq` is stored downstream. The checkpoint file is rewritten at
   * most every CHECKPOINT_EVERY_MS (and always when a segment can go, and on close): after a crash
   * at most that much is sent again, which downstream recognises by event id.
   */
  ack(seq: number): void {
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = Math.min(seq, this.writtenSeq);
    const now = Date.now();
    const segmentDone = this.segments.length > 1 && this.segments[1]!.firstSeq - 1 <= this.ackedSeq;
    if (now - this.checkpointedAt < CHECKPOINT_EVERY_MS && !segmentDone) return;
    this.writeCheckpoint();
    this.checkpointedAt = now;
    const before = this.segments.length;
    const cursorFirst = this.cursor ? this.segments[this.cursor.segment]?.firstSeq : undefined;
    this.dropAckedSegments();
    if (this.cursor && this.segments.length !== before) {
      const idx = this.segments.findIndex((s) => s.firstSeq === cursorFirst);
      this.cursor.segment = idx === -1 ? this.segments.length : idx;
    }
  }

  private writeCheckpoint(): void {
    const tmp = join(this.opts.dir, 'acked.tmp');
    writeFileSync(tmp, String(this.ackedSeq));
    renameSync(tmp, join(this.opts.dir, 'acked'));
  }

  private dropAckedSegments(): void {
    while (this.segments.length > 1) {
      const [first, second] = this.segments as [Segment, Segment];
      if (second.firstSeq - 1 > this.ackedSeq) break;
      if (this.readHandle?.path === first.path) {
        void this.readHandle.handle.close();
        this.readHandle = undefined;
      }
      unlinkSync(first.path);
      this.segments.shift();
    }
    this.unackedBytes = this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Waits for appends in flight, syncs and closes. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.closed = true;
    if (this.ackedSeq > 0) this.writeCheckpoint();
    // An open descriptor is always the newest segment's (ensureSegment opens it with the segment).
    if (this.fd !== -1) this.closeSegment(this.segments[this.segments.length - 1]!);
    await this.readHandle?.handle.close();
    this.readHandle = undefined;
  }

}

/**
 * Calls a caller's callback; if it throws, the error is reported on the next turn as an uncaught
 * exception would be, but after the spool's own bookkeeping and the other callbacks have run.
 */
function callSafely(fn: (err?: Error) => void, err?: Error): void {
  try {
    fn(err);
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

/** Writes all of `parts` (`bytes` in all) at `position` in the file: one writev, rarely more. */
function writeAllAt(fd: number, parts: Buffer[], bytes: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    writev(fd, parts, position, (err, n) => {
      if (err) return reject(err);
      if (n === bytes) return resolve();
      // A short write (a full disk, a signal): the rest goes out as one buffer.
      const rest = Buffer.concat(parts, bytes).subarray(n);
      const step = (data: Buffer, at: number) =>
        write(fd, data, 0, data.length, at, (e, m) => {
          if (e) reject(e);
          else if (m < data.length) step(data.subarray(m), at + m);
          else resolve();
        });
      step(rest, position + n);
    });
  });
}

/** Where the data in `buf` ends, from `from` on: the offset after its last non-zero byte (`from` when all are zero). */
function endOfData(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from && buf[end - 1] === 0) end--;
  return end;
}

/** fsync of a directory, where the platform allows it (Linux and macOS do; Windows does not). */
function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}

function syncData(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
