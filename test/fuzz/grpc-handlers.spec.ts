import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger } from '@nestjs/common';
import { ScalarType, create, fromBinary, toBinary, type DescEnum, type DescField, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClassifierService, ConfigService, EventKind, LinkRole, PathKind, PolicyMode, StatsService } from '@winnow/proto';
import { bearer, closeClient, createClient, methodPath, type ClientOf } from '@winnow/grpc';
import { loadClassifierConfig, loadStatsConfig } from '@winnow/config';
import type { RunningService } from '@winnow/observability';
import { startClassifier } from '@winnow/classifier';
import { startStats } from '@winnow/stats';
import { removeDir } from '../support/stack';

// Property-based fuzzing of every gRPC handler's validation (StatsService, ConfigService,
// ClassifierService) over a real channel to real servers on loopback: requests built from the
// generated schemas with hostile field values, and random bytes for the server's decoder. Every
// call must end, before its deadline, with OK or a status that names the caller's mistake; the
// servers stay up and what they store stays readable. Fixed input counts (printed), seeded.
const SEED = 20261130;
const RUNS = 40;
const BYTES_RUNS = 40;
const DEADLINE_MS = 5_000;
const SERVICE_KEY = 'fuzz-service-key-0123456789abcdef0123456789';

/** The statuses that tell the caller what it got wrong; anything else (INTERNAL, UNKNOWN, UNAVAILABLE, a deadline) is a finding. */
const CLIENT_ERRORS = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.ALREADY_EXISTS,
]);

// Names the fuzzer reuses so that requests reach stored data; CONTROL is never named and must not change.
const TENANT = 'fuzz-t';
const CAMPAIGN = 'fuzz-c';
const MESSAGE = 'fuzz-m';
const HOSTNAME = 'fuzz.example.org';
const CONTROL = 'control-t';

const text = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(TENANT, CAMPAIGN, MESSAGE, HOSTNAME, 'k1', 'user-agent') },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,24}$/) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  // Control characters, lone code units, astral characters.
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', '\n', '*', '.', '..', '$where', 'a.b', '__proto__', 'e\u0301', '\uffff', 'wk_x_y') },
  // Past every key limit: LMDB's 1978 bytes, MongoDB's index keys, the header values.
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '\u0000', 'é', '😀'), fc.integer({ min: 257, max: 40_000 })).map(([c, n]) => c.repeat(n)) },
  // Short in characters, long in UTF-8 bytes (three each).
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 256 }).map((n) => '\u4e00'.repeat(n)) },
);
const int32 = fc.oneof(fc.constantFrom(0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 1000, 1001), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.nat({ max: 60 }));
const uint32 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const int64 = fc.oneof(
  fc.constantFrom(0n, -1n, 1n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: 1_700_000_000_000n, max: 1_900_000_000_000n }),
);
const uint64 = fc.oneof(fc.constantFrom(0n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));

function scalar(type: ScalarType, longAsString: boolean): fc.Arbitrary<unknown> {
  const long = (a: fc.Arbitrary<bigint>) => (longAsString ? a.map(String) : a);
  switch (type) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BYTES:
      return fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 80 }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(int64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(uint64);
  }
}

/** Known values, and unknown ones (proto3 enums are open: any int32 arrives). */
const enumOf = (e: DescEnum) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...e.values.map((v) => v.number)) }, { weight: 1, arbitrary: int32 });

/** Field values for any message of the schema, every field present or absent; nesting is cut at `depth`. */
function messageInit(schema: DescMessage, depth = 3): fc.Arbitrary<Record<string, unknown>> {
  const single = (f: DescField, kind: 'scalar' | 'enum' | 'message'): fc.Arbitrary<unknown> | undefined => {
    if (kind === 'message') return depth > 0 ? messageInit(f.message!, depth - 1) : undefined;
    if (kind === 'enum') return enumOf(f.enum!);
    return scalar(f.scalar!, 'longAsString' in f && f.longAsString === true);
  };
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of schema.fields) {
    let a: fc.Arbitrary<unknown> | undefined;
    if (f.fieldKind === 'list') {
      const item = single(f, f.listKind);
      a = item && fc.array(item, { maxLength: 4 });
    } else if (f.fieldKind === 'map') {
      const value = single(f, f.mapKind);
      const key = scalar(f.mapKey, true);
      a = value && fc.array(fc.tuple(key, value), { maxLength: 3 }).map((pairs) => Object.fromEntries(pairs.map(([k, v]) => [String(k), v])));
    } else a = single(f, f.fieldKind);
    if (a) fields[f.localName] = a;
  }
  return fc.record(fields, { requiredKeys: [] });
}

interface Outcome {
  code: grpc.status;
  details: string;
  response?: Buffer;
}

const identity = (b: Buffer) => b;

/** One call with already-encoded request messages (one for unary, any number for client streaming). */
function callRaw(channel: grpc.Client, method: DescMethod, messages: readonly Uint8Array[], metadata: Record<string, string>): Promise<Outcome> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const options = { deadline: Date.now() + DEADLINE_MS };
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null, response?: Buffer) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', response: response! });
    if (method.methodKind === 'unary') {
      channel.makeUnaryRequest(methodPath(method), identity, identity, Buffer.from(messages[0]!), md, options, done);
    } else {
      const stream = channel.makeClientStreamRequest(methodPath(method), identity, identity, md, options, done);
      for (const m of messages) stream.write(Buffer.from(m));
      stream.end();
    }
  });
}

const metadataOf = (who: 'service' | 'tenant' | 'none' | 'garbage', tenantKey: string): Record<string, string> =>
  who === 'service' ? bearer(SERVICE_KEY) : who === 'tenant' ? bearer(tenantKey) : who === 'garbage' ? { authorization: 'Bearer wk_0123456789ab_not-a-secret' } : {};
const principal = fc.oneof({ weight: 6, arbitrary: fc.constant('service' as const) }, { weight: 2, arbitrary: fc.constant('tenant' as const) }, { weight: 1, arbitrary: fc.constantFrom('none' as const, 'garbage' as const) });

describe('every gRPC handler against hostile requests, found by a machine', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'winnow-fuzz-grpc-'));
  const quiet = () => new ConsoleLogger({ logLevels: ['fatal'] });
  let stats: RunningService;
  let classifier: RunningService;
  let statsChannel: grpc.Client;
  let classifierChannel: grpc.Client;
  let statsClient: ClientOf<typeof StatsService>;
  let configClient: ClientOf<typeof ConfigService>;
  let tenantKey = '';
  let controlBefore: unknown;

  const edge = (tenant: string, id: string, kind: EventKind, atMs: number) => ({
    id,
    tenant,
    campaign: tenant === CONTROL ? 'control-c' : CAMPAIGN,
    message: tenant === CONTROL ? 'control-m' : MESSAGE,
    kind,
    linkIndex: 0,
    linkRole: LinkRole.CONTENT,
    method: 'GET',
    pathKind: kind === EventKind.CLICK ? PathKind.CLICK : PathKind.PIXEL,
    ip: '203.0.113.7',
    headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0', 'accept-language': 'en' },
    atUnixMs: String(atMs),
    deliveredAtUnixMs: String(atMs - 60_000),
    links: 2,
  });
  const controlView = async () => ({
    stats: (await statsClient.getCampaignStats({ tenant: CONTROL, campaign: 'control-c', policyMode: PolicyMode.INCLUDE_AUTOMATED })).stats,
    timeline: (await statsClient.getMessageTimeline({ tenant: CONTROL, message: 'control-m' })).timeline,
  });

  beforeAll(async () => {
    stats = await startStats(
      loadStatsConfig({ WINNOW_STATS_GRPC_PORT: '0', WINNOW_STATS_HTTP_PORT: '0', WINNOW_DATA_DIR: dataDir, WINNOW_DRAIN_MS: '500', WINNOW_SERVICE_KEY: SERVICE_KEY }),
      quiet(),
    );
    const statsAddress = `127.0.0.1:${stats.ports.grpc}`;
    classifier = await startClassifier(
      loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: '0', WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: statsAddress, WINNOW_DRAIN_MS: '500', WINNOW_SERVICE_KEY: SERVICE_KEY }),
      quiet(),
    );
    statsChannel = new grpc.Client(statsAddress, grpc.credentials.createInsecure());
    classifierChannel = new grpc.Client(`127.0.0.1:${classifier.ports.grpc}`, grpc.credentials.createInsecure());
    statsClient = createClient(StatsService, statsAddress, { metadata: bearer(SERVICE_KEY) });
    configClient = createClient(ConfigService, statsAddress, { metadata: bearer(SERVICE_KEY) });
    const classifierClient = createClient(ClassifierService, `127.0.0.1:${classifier.ports.grpc}`, { metadata: bearer(SERVICE_KEY) });
    // Something to find: a tenant the fuzzer names, with a key, a domain, a policy and events, and one it never names.
    tenantKey = (await configClient.createApiKey({ tenant: TENANT, description: 'fuzz' })).key;
    await configClient.putTrackingDomain({ domain: { hostname: HOSTNAME, tenant: TENANT, keys: [{ id: 'k1', secret: new Uint8Array(32).fill(7), sealing: true }] } });
    const at = Date.now() - 3_600_000;
    for (const tenant of [TENANT, CONTROL]) {
      const c = tenant === CONTROL ? 'control-c' : CAMPAIGN;
      await statsClient.recordDeliveries({ deliveries: [{ tenant, campaign: c, message: tenant === CONTROL ? 'control-m' : MESSAGE, deliveredAtUnixMs: String(at - 60_000), links: 2 }] });
      await classifierClient.ingest([{ events: [edge(tenant, `${tenant}-e1`, EventKind.OPEN, at), edge(tenant, `${tenant}-e2`, EventKind.CLICK, at + 30_000)] }]);
    }
    closeClient(classifierClient);
    controlBefore = await controlView();
  });
  afterAll(async () => {
    statsChannel?.close();
    classifierChannel?.close();
    closeClient(statsClient);
    closeClient(configClient);
    await classifier?.close();
    await stats?.close();
    removeDir(dataDir);
  });

  const expectClientOutcome = (method: DescMethod, r: Outcome) => {
    if (r.code === grpc.status.OK) {
      // The answer decodes as the method's response.
      fromBinary(method.output, r.response!);
      return;
    }
    expect(CLIENT_ERRORS.has(r.code), `${method.parent.name}.${method.name}: ${grpc.status[r.code]} ${r.details}`).toBe(true);
    expect(r.details.length).toBeGreaterThan(0);
  };

  const services = [
    { service: StatsService, channel: () => statsChannel },
    { service: ConfigService, channel: () => statsChannel },
    { service: ClassifierService, channel: () => classifierChannel },
  ];
  for (const { service, channel } of services) {
    for (const method of service.methods as DescMethod[]) {
      const name = `${service.name}.${method.name}`;
      const count = method.methodKind === 'client_streaming' ? 'streams of 1 to 3 requests' : 'requests';

      it(`${name}: answers any structurally valid request with OK or a client error, in time`, async () => {
        process.stdout.write(`fuzz gRPC ${name} (valid shapes, hostile values): ${RUNS} ${count}\n`);
        const requests = fc.array(messageInit(method.input), { minLength: 1, maxLength: method.methodKind === 'client_streaming' ? 3 : 1 });
        await fc.assert(
          fc.asyncProperty(requests, principal, async (inits, who) => {
            const messages = inits.map((init) => toBinary(method.input, create(method.input, init as never)));
            expectClientOutcome(method, await callRaw(channel(), method, messages, metadataOf(who, tenantKey)));
          }),
          { numRuns: RUNS, seed: SEED },
        );
      }, 60_000);

      it(`${name}: answers random bytes with OK or a client error, in time`, async () => {
        process.stdout.write(`fuzz gRPC ${name} (random bytes): ${BYTES_RUNS} ${count}\n`);
        const bytes = fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: method.methodKind === 'client_streaming' ? 3 : 1 });
        await fc.assert(
          fc.asyncProperty(bytes, principal, async (messages, who) => {
            expectClientOutcome(method, await callRaw(channel(), method, messages, metadataOf(who, tenantKey)));
          }),
          { numRuns: BYTES_RUNS, seed: SEED },
        );
      }, 60_000);
    }
  }

  // Found by fuzzing: names past what a store key holds were answered UNAVAILABLE (so callers would
  // retry them forever), and an error quoting a 40,000-character name outgrew the status trailer:
  // the call hung to its deadline and stalled the connection for the calls behind it.
  it.each([
    ['ListDeadLetters', 'tenant', { tenant: '\u0000'.repeat(39_995), pageToken: '*' }, 'tenant'],
    ['RecordDeliveries', 'service', { deliveries: [{ tenant: 'a'.repeat(4086), message: 'fuzz-t' }] }, 'tenant'],
    ['RecordEvents', 'service', { events: [{ event: { tenant: 'a'.repeat(4093) } }] }, 'tenant'],
    ['GetCampaignStats', 'service', { tenant: 'a'.repeat(920), campaign: '😀'.repeat(262) }, 'tenant'],
    ['GetCampaignStats', 'service', { tenant: 'a', campaign: '😀'.repeat(262) }, 'campaign'],
    ['ReplayDeadLetters', 'service', { tenant: 'a'.repeat(1975) }, 'tenant'],
    ['DiscardDeadLetters', 'service', { tenant: 'a'.repeat(1975), ids: ['x'] }, 'tenant'],
    ['DiscardDeadLetters', 'service', { tenant: '', ids: ['x'.repeat(300)] }, 'ids'],
    ['StartReclassification', 'service', { tenant: 'a'.repeat(1975) }, 'tenant'],
    ['GetReclassification', 'service', { tenant: 'a'.repeat(4093) }, 'tenant'],
    ['Erase', 'service', { tenant: 'a'.repeat(1975), campaign: '*' }, 'tenant'],
    ['GetTimeSeries', 'service', { tenant: 'a'.repeat(1969) }, 'tenant'],
    ['DeleteTrackingDomain', 'service', { hostname: 'a'.repeat(4093) }, 'hostname'],
    ['RevokeApiKey', 'service', { keyId: 'a'.repeat(4093) }, 'key_id'],
  ] as const)('%s refuses a name past 256 characters at once, naming it (found by fuzzing)', async (rpc, who, init, field) => {
    const method = [...StatsService.methods, ...ConfigService.methods].find((m) => m.name === rpc)!;
    const started = Date.now();
    const r = await callRaw(statsChannel, method, [toBinary(method.input, create(method.input, init as never))], metadataOf(who, tenantKey));
    expect(r).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(new RegExp(`${field} is \\d+ characters long \\(at most 256\\)`)) });
    // A hang would end at the 5 s deadline; 3 s leaves a loaded machine room without hiding one.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('refuses a tenant id holding a NUL by name, whoever asks (in-memory keys and tombstones join names with one)', async () => {
    const sneaky = `${CONTROL}\u0000control-m`;
    await expect(statsClient.getCampaignStats({ tenant: sneaky, campaign: 'control-c' })).rejects.toThrow(/tenant must not contain a NUL character/);
    await expect(statsClient.erase({ tenant: sneaky, message: 'x' })).rejects.toThrow(/tenant must not contain a NUL character/);
    await expect(statsClient.recordDeliveries({ deliveries: [{ tenant: sneaky, campaign: 'c', message: 'm', deliveredAtUnixMs: String(Date.now()), links: 1 }] })).rejects.toThrow(/tenant must not contain a NUL character/);
    expect(await controlView()).toEqual(controlBefore);
  });

  it('stays up, and what it stores stays readable, the tenant it never named unchanged', async () => {
    expect(await controlView()).toEqual(controlBefore);
    for (const tenant of [TENANT, CONTROL]) {
      let pageToken = '';
      do ({ nextPageToken: pageToken } = await statsClient.listEvents({ filter: { tenant }, pageSize: 1000, pageToken }));
      while (pageToken);
      await statsClient.getTimeSeries({ tenant, campaign: CAMPAIGN, fromUnixMs: '0', toUnixMs: String(Date.now()) });
      await statsClient.getReclassification({ tenant });
      await configClient.listApiKeys({ tenant });
      await configClient.getSuppressionPolicy({ tenant });
    }
    let pageToken = '';
    do ({ nextPageToken: pageToken } = await statsClient.listDeadLetters({ tenant: '', pageSize: 1000, pageToken }));
    while (pageToken);
    await configClient.listTrackingDomains({});
  });
});
