import { crc32 } from 'node:zlib';

/** Each spool record: u32le payload length | u32le CRC-32 of the payload | payload. */
export const HEADER_BYTES = 8;
/** Largest payload accepted; an edge event is well under 16 KiB. */
export const MAX_RECORD_BYTES = 1024 * 1024;

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  out.writeUInt32LE(payload.byteLength, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, HEADER_BYTES);
  return out;
}

export type Parsed =
  | { kind: 'record'; payload: Buffer; bytes: number }
  /** Not enough bytes yet for a whole record. */
  | { kind: 'partial' }
  /** The bytes here are not a record (torn or corrupted write). */
  | { kind: 'corrupt'; reason: string };

/** Parses the record at `offset` of `buf`. */
export function parseAt(buf: Buffer, offset: number): Parsed {
  if (buf.length - offset < HEADER_BYTES) return { kind: 'partial' };
  const len = buf.readUInt32LE(offset);
  if (len === 0 || len > MAX_RECORD_BYTES) return { kind: 'corrupt', reason: `record length ${len} out of range` };
  if (buf.length - offset < HEADER_BYTES + len) return { kind: 'partial' };
  const payload = buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + len);
  if (crc32(payload) !== buf.readUInt32LE(offset + 4)) return { kind: 'corrupt', reason: 'checksum mismatch' };
  return { kind: 'record', payload, bytes: HEADER_BYTES + len };
}
