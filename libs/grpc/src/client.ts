import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ErrorCode, WinnowError, grpcStatusToErrorCode } from './errors';
import { toServiceDefinition } from './service-definition';
import { PLAINTEXT, channelSecurity, type TlsSettings } from './tls';

export interface CallOptions {
  /** Relative deadline; defaults to the client's. */
  deadlineMs?: number;
  /** Extra metadata, e.g. `{ authorization: 'Bearer ...' }`. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Deadline for calls that name none. Default 10 s. */
  defaultDeadlineMs?: number;
  /** Metadata sent with every call (merged under per-call metadata). */
  metadata?: Record<string, string>;
  /** Transport security (TLS, mTLS); plain text when absent. */
  tls?: TlsSettings;
  maxMessageBytes?: number;
}

type Init<M extends DescMessage> = MessageInitShape<M>;

export type ServiceClient<T extends GenServiceMethods> = {
  [K in keyof T]: T[K]['methodKind'] extends 'unary'
    ? (request: Init<T[K]['input']>, options?: CallOptions) => Promise<MessageShape<T[K]['output']>>
    : T[K]['methodKind'] extends 'client_streaming'
      ? (
          requests: Iterable<Init<T[K]['input']>> | AsyncIterable<Init<T[K]['input']>>,
          options?: CallOptions,
        ) => Promise<MessageShape<T[K]['output']>>
      : never;
};

const channels = new WeakMap<object, grpc.Client>();

/** Closes the channel behind a client made by createClient. */
export function closeClient(client: object): void {
  channels.get(client)?.close();
}

/** Resolves once the channel is connected, or rejects after timeoutMs. */
export function waitForReady(client: object, timeoutMs: number): Promise<void> {
  const channel = channels.get(client);
  if (!channel) return Promise.reject(new Error('not a Winnow gRPC client'));
  return new Promise((resolve, reject) =>
    channel.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new WinnowError(ErrorCode.Unavailable, err.message)) : resolve())),
  );
}

/** The serializer for a request encoded before the call: its bytes as they are, as a Buffer (grpc-js wants one). */
const passBytes = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function toWinnowError(err: grpc.ServiceError): WinnowError {
  return new WinnowError(grpcStatusToErrorCode(err.code), err.details || err.message);
}

/** A typed client for a protobuf-es service over a grpc-js channel. */
export function createClient<T extends GenServiceMethods>(
  service: GenService<T>,
  address: string,
  options: ClientOptions = {},
): ServiceClient<T> {
  const maxBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
  const security = channelSecurity(options.tls ?? PLAINTEXT);
  const channel = new grpc.Client(address, security.credentials, {
    ...security.options,
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  });
  const definition = toServiceDefinition(service);
  const client: Record<string, unknown> = {};

  const prepare = (call: CallOptions | undefined) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...options.metadata, ...call?.metadata })) md.set(k, v);
    const deadline = Date.now() + (call?.deadlineMs ?? options.defaultDeadlineMs ?? 10_000);
    return { md, deadline };
  };
  const wire = (
    call: grpc.ClientUnaryCall | grpc.ClientWritableStream<unknown>,
    signal: AbortSignal | undefined,
  ) => {
    if (!signal) return;
    if (signal.aborted) call.cancel();
    else signal.addEventListener('abort', () => call.cancel(), { once: true });
  };

  const unary = (def: grpc.MethodDefinition<unknown, unknown>, bytes: Buffer, call: CallOptions | undefined) =>
    new Promise((resolve, reject) => {
      const { md, deadline } = prepare(call);
      const c = channel.makeUnaryRequest(
        def.path,
        passBytes,
        def.responseDeserialize,
        bytes,
        md,
        { deadline },
        (err, value) => (err ? reject(toWinnowError(err)) : resolve(value)),
      );
      wire(c, call?.signal);
    });

  for (const method of service.methods as DescMethod[]) {
    const def = definition[method.localName]!;
    if (method.methodKind === 'unary') {
      // The request is encoded before the call rather than by grpc-js, which would keep the request
      // object reachable until the call ends: a batch of a thousand events would then outlive every
      // young-generation collection while the server works on it, and be copied by each
      // (docs/architecture.md, "Session 20"). grpc-js keeps the bytes, off the JavaScript heap, for
      // its retries. No closure made for the call may see `request`, or it would keep it all the same.
      client[method.localName] = (request: unknown, call?: CallOptions) => {
        let bytes: Buffer;
        try {
          bytes = def.requestSerialize(create(method.input, request as never));
        } catch (err) {
          return Promise.reject(new WinnowError(ErrorCode.Internal, `request message serialization failure: ${err instanceof Error ? err.message : String(err)}`));
        }
        return unary(def, bytes, call);
      };
    } else if (method.methodKind === 'client_streaming') {
      client[method.localName] = (requests: Iterable<unknown> | AsyncIterable<unknown>, call?: CallOptions) =>
        new Promise((resolve, reject) => {
          const { md, deadline } = prepare(call);
          let settled = false;
          const stream = channel.makeClientStreamRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            md,
            { deadline },
            (err, value) => {
              settled = true;
              return err ? reject(toWinnowError(err)) : resolve(value);
            },
          );
          wire(stream, call?.signal);
          void (async () => {
            try {
              for await (const r of requests as AsyncIterable<unknown>) {
                if (settled) return;
                if (!stream.write(create(method.input, r as never))) {
                  await new Promise((ok) => stream.once('drain', ok));
                }
              }
              stream.end();
            } catch (err) {
              stream.cancel();
              if (!settled) reject(err);
            }
          })();
        });
    }
  }
  channels.set(client, channel);
  return client as ServiceClient<T>;
}

/** The client type of a generated service schema: `ClientOf<typeof StatsService>`. */
export type ClientOf<S> = S extends GenService<infer T> ? ServiceClient<T> : never;

/**
 * Sends already-encoded request messages on a client-streaming method (for example records read
 * back from disk), skipping a decode and re-encode. Resolves with the decoded response.
 */
export function sendEncodedClientStream<O extends DescMessage>(
  client: object,
  method: DescMethod & { output: O },
  messages: readonly Uint8Array[],
  options: CallOptions & { metadata?: Record<string, string> } = {},
): Promise<MessageShape<O>> {
  const channel = channels.get(client);
  if (!channel) return Promise.reject(new Error('not a Winnow gRPC client'));
  if (method.methodKind !== 'client_streaming') return Promise.reject(new Error(`${method.name} is not client-streaming`));
  const def = toServiceDefinition(method.parent)[method.localName]!;
  return new Promise((resolve, reject) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    const stream = channel.makeClientStreamRequest(
      def.path,
      passBytes,
      def.responseDeserialize,
      md,
      { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
      (err, value) => (err ? reject(toWinnowError(err)) : resolve(value as MessageShape<O>)),
    );
    for (const m of messages) stream.write(m);
    stream.end();
  });
}
