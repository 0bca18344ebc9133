import { configureTextEncoding } from '@bufbuild/protobuf/wire';

/**
 * protobuf-es turns every string field into UTF-8 with the WHATWG `TextEncoder`, which costs about
 * 1 µs a call on Node 20 (a native call and a fresh ArrayBuffer each time): with some twenty string
 * fields per stored event that was a quarter of an event's encoding time in the pipeline's CPU
 * profile (docs/architecture.md, "Throughput end to end"). Node's `Buffer.from` writes the same
 * bytes (lone surrogates become U+FFFD in both) from a pooled slab in about 0.15 µs. Decoding keeps
 * `TextDecoder` (fast already, and strict where proto3 asks for valid UTF-8); the check for
 * encodable text is `isWellFormed`, true exactly when `encodeURIComponent` (the default) does not
 * throw. Set once, for the whole process, when this library is loaded.
 */
export function useNodeTextEncoding(): void {
  const lenient = new TextDecoder('utf-8');
  const strict = new TextDecoder('utf-8', { fatal: true });
  configureTextEncoding({
    encodeUtf8: (text: string) => Buffer.from(text, 'utf8'),
    decodeUtf8: (bytes: Uint8Array, fatal?: boolean) => (fatal ? strict : lenient).decode(bytes),
    checkUtf8: (text: string) => (text as string & { isWellFormed(): boolean }).isWellFormed(),
  });
}

useNodeTextEncoding();
