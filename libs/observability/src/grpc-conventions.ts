import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';

/** Every file a service's schema needs, its imports first. */
function filesOf(services: readonly DescService[]): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    f.dependencies.forEach(visit);
    out.push(f);
  };
  for (const s of services) visit(s.file);
  return out;
}

/**
 * gRPC server reflection (v1 and v1alpha, @grpc/reflection) for Winnow's services, built from the
 * descriptors compiled into the code (no .proto files at run time), so grpcurl and other tools need
 * no schema of their own.
 */
export function addReflection(server: Server, services: readonly DescService[]): void {
  const fileDescriptorProtos = filesOf(services).map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads a proto-loader package definition: only each entry's file descriptors.
  // The health service is not listed: grpc-health-check's descriptor (made by protobufjs) names its
  // map entry in a way Go's protobuf refuses, so grpcurl could not use it (grpc-health-probe needs no
  // reflection).
  const pkg = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  new ReflectionService(pkg as never, { services: services.map((s) => s.typeName) }).addToServer(server);
}

/**
 * The standard health service (grpc.health.v1, grpc-health-check) for the server ('') and each of its
 * services by full name: SERVING once the process is ready, NOT_SERVING while a readiness check fails
 * or the process drains. Kubernetes gRPC probes and grpc-health-probe ask it.
 */
export class GrpcHealth {
  private readonly impl = new HealthImplementation({ '': 'NOT_SERVING' });

  constructor(
    server: Server,
    private readonly services: readonly DescService[],
  ) {
    for (const s of services) this.impl.setStatus(s.typeName, 'NOT_SERVING');
    this.impl.addToServer(server);
  }

  set(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.impl.setStatus('', status);
    for (const s of this.services) this.impl.setStatus(s.typeName, status);
  }
}
