import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { getTextEncoding } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { EdgeEventSchema } from './index';

const samples = ['', 'evt-0123', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'Ünïcödé – 日本語 – 🩺', 'lone \ud800 high', 'lone \udc00 low', 'pair \ud83e\ude7a ok'];

describe('the process-wide text encoding protobuf-es uses', () => {
  it('is the Node one, and writes exactly the bytes TextEncoder writes, lone surrogates included', () => {
    const te = getTextEncoding();
    const reference = new TextEncoder();
    for (const s of samples) expect(Buffer.from(te.encodeUtf8(s))).toEqual(Buffer.from(reference.encode(s)));
    expect(te.encodeUtf8('x')).toBeInstanceOf(Buffer);
  });

  it('says text is encodable exactly when encodeURIComponent would', () => {
    const te = getTextEncoding();
    const byUri = (s: string) => {
      try {
        encodeURIComponent(s);
        return true;
      } catch {
        return false;
      }
    };
    for (const s of samples) expect(te.checkUtf8(s)).toBe(byUri(s));
  });

  it('round-trips messages and still refuses invalid UTF-8 in a proto3 string field', () => {
    const e = create(EdgeEventSchema, { id: 'evt-1', tenant: 'Ünïcödé 🩺', headers: { 'user-agent': 'Mozilla/5.0' } });
    expect(fromBinary(EdgeEventSchema, toBinary(EdgeEventSchema, e))).toEqual(e);
    // Field 1 (id), length-delimited, two bytes that are not UTF-8.
    expect(() => fromBinary(EdgeEventSchema, new Uint8Array([0x0a, 0x02, 0xc3, 0x28]))).toThrow(/encoded data was not valid/i);
  });
});
