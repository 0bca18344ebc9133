import * as grpc from '@grpc/grpc-js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigService, GetSuppressionPolicyRequestSchema } from '@winnow/proto';
import { MAX_ERROR_MESSAGE, addService, bindServer, newServer, shutdownServer } from './server';
import { closeClient, createClient, type ClientOf } from './client';
import { ErrorCode, WinnowError, errorCodeToGrpcStatus, grpcStatusToErrorCode } from './errors';
import { methodPath } from './service-definition';

describe('gRPC bridge over a real channel', () => {
  const server = newServer();
  let client: ClientOf<typeof ConfigService>;
  let address = '';
  const seen: Array<string | undefined> = [];
  const outcomes: string[] = [];

  beforeAll(async () => {
    addService(
      server,
      ConfigService,
      {
        putTrackingDomain: async (req) => ({ domain: req.domain }),
        deleteTrackingDomain: async () => {
          throw new WinnowError(ErrorCode.NotFound, 'no such domain');
        },
        listTrackingDomains: async (_req, ctx) => {
          seen.push(ctx.header('x-request-id'));
          return { version: 'v1', domains: [{ hostname: 'a.example', tenant: 't', keys: [] }] };
        },
        putSuppressionPolicy: async () => {
          throw new Error('a bug with a secret inside');
        },
        getSuppressionPolicy: async (_req, ctx) =>
          new Promise((resolve) => {
            const t = setTimeout(() => resolve({ explicit: true }), 2000);
            ctx.signal.addEventListener('abort', () => clearTimeout(t));
          }),
        createApiKey: async () => ({}),
        revokeApiKey: async (req) => {
          throw new WinnowError(ErrorCode.InvalidArgument, `no key ${req.keyId}`);
        },
        listApiKeys: async () => ({}),
        prepareEmail: async () => ({}),
      },
      {
        before: (ctx) => {
          if (ctx.header('authorization') === 'Bearer wrong') throw new WinnowError(ErrorCode.Unauthenticated, 'bad key');
        },
        after: (method, code) => outcomes.push(`${method.name}:${code}`),
      },
    );
    const port = await bindServer(server, '127.0.0.1:0');
    address = `127.0.0.1:${port}`;
    client = createClient(ConfigService, address, { metadata: { 'x-request-id': 'from-client' } });
  });

  afterAll(async () => {
    closeClient(client);
    await shutdownServer(server, 100);
  });

  it('round-trips typed messages and metadata', async () => {
    const res = await client.listTrackingDomains({});
    expect(res.version).toBe('v1');
    expect(res.domains[0]!.hostname).toBe('a.example');
    await client.listTrackingDomains({}, { metadata: { 'x-request-id': 'per-call' } });
    expect(seen).toEqual(['from-client', 'per-call']);
    const put = await client.putTrackingDomain({ domain: { hostname: 'b.example', tenant: 't', keys: [{ id: 'k', secret: new Uint8Array([1, 2]) }] } });
    expect([...put.domain!.keys[0]!.secret]).toEqual([1, 2]);
  });

  it('fails a request that cannot be encoded at once, as internal, and sends nothing', async () => {
    const before = outcomes.length;
    const err = await client.createApiKey({ tenant: 't', expiresAtUnixMs: 'soon' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WinnowError);
    expect((err as WinnowError).code).toBe(ErrorCode.Internal);
    expect((err as WinnowError).message).toMatch(/request message serialization failure: .*soon/);
    // The channel still works, and the server saw only the call after.
    await client.listTrackingDomains({});
    expect(outcomes.slice(before)).toEqual(['ListTrackingDomains:ok']);
  });

  it('lets a unary request object go once it is encoded, while the call is still on its way', async () => {
    // grpc-js keeps the message it is given until the call ends; the client hands it bytes instead,
    // so a large batch does not outlive every young-generation collection while the server works.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const abort = new AbortController();
    let held: WeakRef<object>;
    const call = (() => {
      const req = create(GetSuppressionPolicyRequestSchema, { tenant: 'held' });
      held = new WeakRef(req);
      // The server answers after 2 s; the call is aborted below.
      return client.getSuppressionPolicy(req, { signal: abort.signal }).catch((e: unknown) => e);
    })();
    await new Promise((ok) => setTimeout(ok, 50));
    gc();
    expect(held!.deref()).toBeUndefined();
    abort.abort();
    expect(await call).toBeInstanceOf(WinnowError);
  });

  it('maps errors one way and back, hiding internal details', async () => {
    await expect(client.deleteTrackingDomain({ hostname: 'x' })).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'no such domain' });
    await expect(client.putSuppressionPolicy({})).rejects.toMatchObject({ code: ErrorCode.Internal, message: 'internal error' });
    await expect(client.listTrackingDomains({}, { metadata: { authorization: 'Bearer wrong' } })).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    expect(outcomes).toContain('DeleteTrackingDomain:not_found');
    for (const code of Object.values(ErrorCode)) expect(grpcStatusToErrorCode(errorCodeToGrpcStatus(code))).toBe(code);
    expect(grpcStatusToErrorCode(grpc.status.DATA_LOSS)).toBe(ErrorCode.Internal);
  });

  it('answers at once with an error that quotes a huge input, cut to fit (grpc-js would hang until the deadline)', async () => {
    // A hang would end at the deadline as deadline_exceeded instead.
    const err = await client.revokeApiKey({ keyId: '\u0000'.repeat(40_000) }, { deadlineMs: 5000 }).catch((e: WinnowError) => e);
    expect(err).toMatchObject({ code: ErrorCode.InvalidArgument });
    expect((err as WinnowError).message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE);
    expect((err as WinnowError).message).toBe(`no key ${'\u0000'.repeat(984 - 'no key '.length)}... (39023 more characters)`);
  });

  it('enforces deadlines', async () => {
    const started = Date.now();
    await expect(client.getSuppressionPolicy({ tenant: 't' }, { deadlineMs: 100 })).rejects.toMatchObject({ code: ErrorCode.DeadlineExceeded });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('answers a malformed protobuf with INVALID_ARGUMENT', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const method = ConfigService.method.listTrackingDomains;
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      raw.makeUnaryRequest(
        methodPath(method),
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1, length far past the end
        (e) => resolve(e!),
      );
    });
    raw.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/malformed winnow\.config\.v1\.ListTrackingDomainsRequest/);
  });

  it('reports an unreachable peer as unavailable', async () => {
    const dead = createClient(ConfigService, '127.0.0.1:1', { defaultDeadlineMs: 2000 });
    await expect(dead.listTrackingDomains({})).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    closeClient(dead);
  });
});
