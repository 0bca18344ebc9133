import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageShape } from '@bufbuild/protobuf';

/** What a request deserializer yields for bytes that are not a valid message of the input type. */
export class MalformedMessage {
  constructor(readonly reason: string) {}
}

/** Hand-written encoders for messages on a hot path, by type name (see useWireEncoder). */
const wireEncoders = new Map<string, (value: never) => Uint8Array | undefined>();

/**
 * Has calls that send a `schema` message encode it with `encode` instead of protobuf-es's
 * reflective toBinary: for a message sent once per batch of events, where toBinary was a large
 * share of a service's CPU. `encode` must give exactly toBinary's bytes (its own tests show it), or
 * undefined to leave a message to toBinary.
 */
export function useWireEncoder<S extends DescMessage>(schema: S, encode: (value: MessageShape<S>) => Uint8Array | undefined): void {
  wireEncoders.set(schema.typeName, encode as (value: never) => Uint8Array | undefined);
}

/** Hand-written decoders for messages on a hot path, by type name (see useWireDecoder). */
const wireDecoders = new Map<string, (bytes: Uint8Array) => unknown>();

/**
 * Has servers read `schema` requests with `decode` first: it must give exactly fromBinary's message
 * or undefined, and fromBinary then decodes (and words any error) as before.
 */
export function useWireDecoder<S extends DescMessage>(schema: S, decode: (bytes: Uint8Array) => MessageShape<S> | undefined): void {
  wireDecoders.set(schema.typeName, decode);
}

function serializer(schema: DescMessage) {
  return (value: unknown): Buffer => {
    const bytes = wireEncoders.get(schema.typeName)?.(value as never) ?? toBinary(schema, value as never);
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/**
 * A deserializer that never throws: grpc-js would turn a throw into INTERNAL, while a malformed
 * request is the caller's fault. The server wrapper answers a MalformedMessage with INVALID_ARGUMENT.
 */
function lenientDeserializer(schema: DescMessage) {
  return (bytes: Buffer): unknown => {
    const fast = wireDecoders.get(schema.typeName)?.(bytes);
    if (fast !== undefined) return fast;
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new MalformedMessage(`malformed ${schema.typeName}: ${(err as Error).message}`);
    }
  };
}

function strictDeserializer(schema: DescMessage) {
  return (bytes: Buffer): unknown => fromBinary(schema, bytes);
}

/** The path grpc-js routes a method by: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * Turns a protobuf-es service schema into a grpc-js service definition, keyed by each method's
 * local (camelCase) name. No `.proto` file is read at run time.
 */
export function toServiceDefinition(service: DescService): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    def[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input),
      requestDeserialize: lenientDeserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: strictDeserializer(method.output),
      originalName: method.name,
    };
  }
  return def as ServiceDefinition;
}
