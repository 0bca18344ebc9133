import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { TokenPayloadSchema, type TokenPayload } from '@winnow/proto';
import { decodeTokenPayload, encodeTokenPayload, type TokenPayloadFields } from './token-payload.codec';

/**
 * Envelope of a sealed token, base64url without padding:
 *
 *   version (1 byte, = 1) | key id length (1) | key id (1..8 ASCII) | IV (12) | ciphertext | GCM tag (16)
 *
 * The version byte and key id are authenticated as additional data; the payload is a
 * winnow.token.v1.TokenPayload in protobuf binary, encrypted with AES-256-GCM.
 */
export const TOKEN_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,8}$/;
/** Latest send time a token may carry (2106-02-07, the end of unsigned 32-bit seconds): anything later, or negative, is not a time our sealer wrote. */
const MAX_SENT_AT_S = 0xffffffff;
/** Longest token we try to open; anything longer is refused before any crypto. */
export const MAX_TOKEN_CHARS = 4096;

export interface SealingKey {
  id: string;
  /** 32 bytes. */
  secret: Uint8Array;
}

/** Why a token was refused. Closed set: each value is a metric label and a log reason. */
export enum TokenRejection {
  Malformed = 'malformed',
  UnsupportedVersion = 'unsupported_version',
  UnknownKey = 'unknown_key',
  BadSeal = 'bad_seal',
  BadPayload = 'bad_payload',
  Expired = 'expired',
  WrongTenant = 'wrong_tenant',
  /** A pixel token on a link path or the other way round. */
  WrongKind = 'wrong_kind',
  /** A click token whose target is not an http(s) URL. */
  BadTarget = 'bad_target',
}

export class TokenError extends Error {
  constructor(readonly reason: TokenRejection) {
    super(`token refused: ${reason}`);
    this.name = 'TokenError';
  }
}

export function validateKey(key: SealingKey): void {
  if (!KEY_ID.test(key.id)) throw new RangeError(`key id must match ${KEY_ID}: ${JSON.stringify(key.id)}`);
  if (key.secret.byteLength !== 32) throw new RangeError(`key ${key.id} must be 32 bytes, got ${key.secret.byteLength}`);
}

/** The keys of one tenant: several may open tokens (rotation), one seals new ones. */
export class Keyring {
  /** KeyObjects, made once: OpenSSL keeps them, so sealing or opening a token does not copy the secret. */
  private readonly byId = new Map<string, KeyObject>();

  constructor(
    keys: readonly SealingKey[],
    readonly sealingKeyId: string | undefined,
  ) {
    for (const k of keys) {
      validateKey(k);
      this.byId.set(k.id, createSecretKey(k.secret));
    }
    if (sealingKeyId !== undefined && !this.byId.has(sealingKeyId)) {
      throw new RangeError(`sealing key ${sealingKeyId} is not among the keys`);
    }
  }

  get(id: string): KeyObject | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

function header(kid: string): Buffer {
  const id = Buffer.from(kid, 'ascii');
  return Buffer.concat([Buffer.from([TOKEN_VERSION, id.length]), id]);
}

/**
 * IVs are taken from a pool of random bytes, IV_POOL_IVS at a time: one `randomBytes` call of 12 bytes
 * costs about as much as the rest of the seal (OpenSSL's generator is entered once per call), and
 * PrepareEmail seals a token per link. Each IV's bytes are handed out once; a spent pool is replaced
 * by a new one (never refilled in place, so an IV already in a token is never rewritten). The pool
 * holds nothing secret: an IV travels in clear in its token.
 */
const IV_POOL_IVS = 256;
let ivPool: Buffer = Buffer.alloc(0);
let ivNext = 0;

function freshIv(): Buffer {
  if (ivNext + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_BYTES * IV_POOL_IVS);
    ivNext = 0;
  }
  const iv = ivPool.subarray(ivNext, ivNext + IV_BYTES);
  ivNext += IV_BYTES;
  return iv;
}

/** The payload's bytes: the one-pass encoder, or protobuf-es for what it leaves to it (and then refuses). */
function payloadBytes(payload: MessageInitShape<typeof TokenPayloadSchema>): Uint8Array {
  const unknown = (payload as { $unknown?: unknown[] }).$unknown;
  return (unknown?.length ? undefined : encodeTokenPayload(payload as TokenPayloadFields)) ?? toBinary(TokenPayloadSchema, create(TokenPayloadSchema, payload));
}

/** A payload whose sealed token would be longer than MAX_TOKEN_CHARS: no collector could open it. */
export class TokenTooLongError extends RangeError {
  constructor(readonly chars: number) {
    super(`the sealed token would be ${chars} characters, over the ${MAX_TOKEN_CHARS} a collector opens`);
    this.name = 'TokenTooLongError';
  }
}

/** Characters of base64url without padding for n bytes. */
const base64urlChars = (n: number) => Math.ceil((n * 4) / 3);

/**
 * How long the token sealing this payload with the keyring's sealing key would be, in characters,
 * without sealing it (AES-GCM adds no padding, so the length follows from the payload's).
 */
export function sealedTokenChars(keyring: Keyring, payload: MessageInitShape<typeof TokenPayloadSchema>): number {
  const kid = keyring.sealingKeyId;
  if (kid === undefined) throw new Error('keyring has no sealing key');
  return base64urlChars(2 + kid.length + IV_BYTES + payloadBytes(payload).length + TAG_BYTES);
}

/**
 * Seals a payload with the keyring's sealing key. A payload too long for any collector to open
 * (a link target of about 2,900 characters or more) is refused with TokenTooLongError: sealing it
 * would hand out a link that can never work.
 */
export function sealToken(keyring: Keyring, payload: MessageInitShape<typeof TokenPayloadSchema>): string {
  const kid = keyring.sealingKeyId;
  if (kid === undefined) throw new Error('keyring has no sealing key');
  const secret = keyring.get(kid)!;
  const aad = header(kid);
  const iv = freshIv();
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  cipher.setAAD(aad);
  const body = cipher.update(payloadBytes(payload));
  const rest = cipher.final();
  const tag = cipher.getAuthTag();
  // header | IV | ciphertext | tag, written once into one buffer.
  const out = Buffer.allocUnsafe(aad.length + IV_BYTES + body.length + rest.length + TAG_BYTES);
  let at = aad.copy(out, 0);
  at += iv.copy(out, at);
  at += body.copy(out, at);
  at += rest.copy(out, at);
  tag.copy(out, at);
  const token = out.toString('base64url');
  if (token.length > MAX_TOKEN_CHARS) throw new TokenTooLongError(token.length);
  return token;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export interface OpenOptions {
  /** Seconds since the epoch, for the age check. */
  nowS: number;
  /** Tokens whose mail was prepared longer ago than this are refused; 0 = never expire. */
  maxAgeS: number;
  /** The tenant the request's host belongs to; the sealed tenant must match. */
  tenant: string;
}

export type OpenResult = { ok: true; payload: TokenPayload } | { ok: false; reason: TokenRejection };

const refuse = (reason: TokenRejection): OpenResult => ({ ok: false, reason });

/**
 * Opens a token. Refusals are returned, not thrown: hostile traffic is full of bad tokens and an
 * exception per request would cost a stack trace each. The GCM tag comparison inside OpenSSL is
 * constant-time; the key lookup depends only on the public key id.
 */
export function tryOpenToken(keyring: Keyring, token: string, opts: OpenOptions): OpenResult {
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !B64URL.test(token)) return refuse(TokenRejection.Malformed);
  const raw = Buffer.from(token, 'base64url');
  if (raw.length < 2) return refuse(TokenRejection.Malformed);
  if (raw[0] !== TOKEN_VERSION) return refuse(TokenRejection.UnsupportedVersion);
  const idLen = raw[1]!;
  const headerLen = 2 + idLen;
  if (idLen === 0 || idLen > 8 || raw.length < headerLen + IV_BYTES + TAG_BYTES + 1) return refuse(TokenRejection.Malformed);
  const secret = keyring.get(raw.toString('latin1', 2, headerLen));
  if (!secret) return refuse(TokenRejection.UnknownKey);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(headerLen, headerLen + IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(raw.subarray(0, headerLen));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    // GCM is a stream mode: update() gives all the plaintext; final() checks the tag (and throws).
    plain = decipher.update(raw.subarray(headerLen + IV_BYTES, raw.length - TAG_BYTES));
    decipher.final();
  } catch {
    return refuse(TokenRejection.BadSeal);
  }
  const payload = decodeTokenPayload(plain);
  if (!payload) return refuse(TokenRejection.BadPayload);
  const sentAtS = Number(payload.sentAtUnixS);
  if (!(sentAtS >= 0 && sentAtS <= MAX_SENT_AT_S)) return refuse(TokenRejection.BadPayload);
  if (payload.tenant !== opts.tenant) return refuse(TokenRejection.WrongTenant);
  if (opts.maxAgeS > 0 && opts.nowS - sentAtS > opts.maxAgeS) return refuse(TokenRejection.Expired);
  return { ok: true, payload };
}

/** Opens a token or throws TokenError (see tryOpenToken). */
export function openToken(keyring: Keyring, token: string, opts: OpenOptions): TokenPayload {
  const r = tryOpenToken(keyring, token, opts);
  if (!r.ok) throw new TokenError(r.reason);
  return r.payload;
}
