import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ErrorCode, WinnowError, errorCodeToGrpcStatus } from './errors';
import { MalformedMessage, toServiceDefinition } from './service-definition';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  readonly method: DescMethod;
  /** First value of a metadata key (lower-case), as text. */
  header(key: string): string | undefined;
  readonly peer: string;
  /** Aborted when the caller cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** What the `before` hook learnt about the caller (for example who it is), for handlers and `after`. */
  readonly locals: Record<string, unknown>;
}

type Out<O extends DescMessage> = Promise<MessageInitShape<O> | MessageShape<O>>;

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Out<O>;

export type ClientStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => Out<O>;

/** A typed implementation of a protobuf-es service: one handler per method, by local name. */
export type ServiceImpl<T extends GenServiceMethods> = {
  [K in keyof T]: T[K]['methodKind'] extends 'unary'
    ? UnaryHandler<T[K]['input'], T[K]['output']>
    : T[K]['methodKind'] extends 'client_streaming'
      ? ClientStreamingHandler<T[K]['input'], T[K]['output']>
      : never;
};

export interface ServiceHooks {
  /** Runs before every handler (authentication); throw a WinnowError to refuse the call. */
  before?(ctx: CallContext): void | Promise<void>;
  /** Told of every finished call, for metrics and audit. */
  after?(method: DescMethod, code: ErrorCode | 'ok', seconds: number, ctx: CallContext): void;
  /** Told of failures that are not WinnowErrors (bugs); the caller only sees "internal error". */
  onInternalError?(method: DescMethod, err: unknown): void;
}

/**
 * Longest error message sent to a caller. grpc-js cannot deliver a status whose message does not fit
 * in its header frame: the call then hangs until its deadline (found by fuzzing, with a message that
 * quoted a 40,000-character tenant). Messages that quote input are cut here, in one place.
 */
export const MAX_ERROR_MESSAGE = 1024;

export function cutMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE) return message;
  // The suffix is at most 34 characters; what is kept leaves room for it.
  const kept = MAX_ERROR_MESSAGE - 40;
  return `${message.slice(0, kept)}... (${message.length - kept} more characters)`;
}

function toServiceError(err: unknown, method: DescMethod, hooks: ServiceHooks): Partial<grpc.StatusObject> & { code: grpc.status } {
  if (err instanceof WinnowError) {
    return { code: errorCodeToGrpcStatus(err.code), details: cutMessage(err.message) };
  }
  hooks.onInternalError?.(method, err);
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}

function makeContext(
  method: DescMethod,
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>,
): CallContext {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new WinnowError(ErrorCode.Cancelled, 'call cancelled')));
  return {
    method,
    header(key) {
      const v = call.metadata.get(key)[0];
      return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
    },
    peer: call.getPeer(),
    signal: controller.signal,
    locals: {},
  };
}

async function* readStream(method: DescMethod, call: grpc.ServerReadableStream<unknown, unknown>): AsyncGenerator<never> {
  for await (const msg of call as AsyncIterable<unknown>) {
    if (msg instanceof MalformedMessage) throw new WinnowError(ErrorCode.InvalidArgument, msg.reason);
    yield msg as never;
  }
  void method;
}

/** Registers a typed implementation on a grpc-js server. */
export function addService<T extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<T>,
  impl: ServiceImpl<T>,
  hooks: ServiceHooks = {},
): void {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, unknown>)[method.localName];
    if (typeof handler !== 'function') throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
    const finish = (started: bigint, code: ErrorCode | 'ok', ctx: CallContext) =>
      hooks.after?.(method, code, Number(process.hrtime.bigint() - started) / 1e9, ctx);
    const respond = (
      started: bigint,
      ctx: CallContext,
      callback: grpc.sendUnaryData<unknown>,
      run: () => Promise<unknown>,
    ): void => {
      run().then(
        (result) => {
          finish(started, 'ok', ctx);
          callback(null, create(method.output, result as never));
        },
        (err: unknown) => {
          finish(started, err instanceof WinnowError ? err.code : ErrorCode.Internal, ctx);
          callback(toServiceError(err, method, hooks));
        },
      );
    };
    if (method.methodKind === 'unary') {
      handlers[method.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const started = process.hrtime.bigint();
        const ctx = makeContext(method, call);
        respond(started, ctx, callback, async () => {
          if (call.request instanceof MalformedMessage) throw new WinnowError(ErrorCode.InvalidArgument, call.request.reason);
          await hooks.before?.(ctx);
          return (handler as UnaryHandler<DescMessage, DescMessage>)(call.request as never, ctx);
        });
      };
    } else if (method.methodKind === 'client_streaming') {
      handlers[method.localName] = (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const started = process.hrtime.bigint();
        const ctx = makeContext(method, call);
        respond(started, ctx, callback, async () => {
          await hooks.before?.(ctx);
          return (handler as ClientStreamingHandler<DescMessage, DescMessage>)(readStream(method, call), ctx);
        });
      };
    } else {
      throw new Error(`${method.methodKind} methods are not supported by the bridge yet (${method.name})`);
    }
  }
  server.addService(toServiceDefinition(service), handlers);
}

/** Binds a server and resolves with the port it got (useful with port 0). */
export function bindServer(server: grpc.Server, address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** Stops taking calls, lets running ones finish for up to graceMs, then cuts the rest. */
export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Server options suited to Winnow: bounded message sizes and keepalive. */
export function newServer(maxMessageBytes = 16 * 1024 * 1024): grpc.Server {
  return new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
  });
}

/** The implementation type of a generated service schema: `ImplOf<typeof StatsService>`. */
export type ImplOf<S> = S extends GenService<infer T> ? ServiceImpl<T> : never;
