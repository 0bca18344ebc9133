import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConfigError, EnvReader, type Env } from './env';

/** Settings every service shares. */
export interface CommonConfig {
  /**
   * The key services use with one another and with the stats API (full access, all tenants).
   * WINNOW_SERVICE_KEY, required, at least 32 characters; `npm start` generates one.
   */
  serviceKey: string;
  /** Address servers bind to. WINNOW_BIND_HOST, default 127.0.0.1. */
  bindHost: string;
  /** How long to drain in-flight work after SIGTERM. WINNOW_DRAIN_MS, default 5000. */
  drainMs: number;
  /** debug | info | warn | error. WINNOW_LOG_LEVEL, default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Transport security of every gRPC server and client in the process (WINNOW_GRPC_TLS*). */
  grpcTls: GrpcTlsConfig;
  /** gRPC server reflection on the process's gRPC server. WINNOW_GRPC_REFLECTION, default true. */
  grpcReflection: boolean;
}

/**
 * gRPC transport security (docs/privacy.md, "Encrypted transport").
 * WINNOW_GRPC_TLS: off (default) | tls | mtls. The files default to where a cert-manager
 * Certificate's Secret is mounted by the chart: WINNOW_GRPC_TLS_CERT (/etc/winnow/tls/tls.crt),
 * WINNOW_GRPC_TLS_KEY (/etc/winnow/tls/tls.key), WINNOW_GRPC_TLS_CA (/etc/winnow/tls/ca.crt).
 * WINNOW_GRPC_TLS_SERVER_NAME: the name clients expect in servers' certificates when it is not the
 * address's host. WINNOW_GRPC_TLS_REFRESH_SECONDS (default 60): how often the files are read again.
 */
export interface GrpcTlsConfig {
  mode: 'off' | 'tls' | 'mtls';
  certFile: string;
  keyFile: string;
  caFile: string;
  serverName: string | undefined;
  refreshMs: number;
}

export function loadGrpcTls(env: Env = process.env): GrpcTlsConfig {
  const r = new EnvReader(env);
  return {
    mode: r.oneOf('WINNOW_GRPC_TLS', ['off', 'tls', 'mtls'] as const, 'off'),
    certFile: r.string('WINNOW_GRPC_TLS_CERT', '/etc/winnow/tls/tls.crt'),
    keyFile: r.string('WINNOW_GRPC_TLS_KEY', '/etc/winnow/tls/tls.key'),
    caFile: r.string('WINNOW_GRPC_TLS_CA', '/etc/winnow/tls/ca.crt'),
    serverName: r.string('WINNOW_GRPC_TLS_SERVER_NAME'),
    refreshMs: r.int('WINNOW_GRPC_TLS_REFRESH_SECONDS', 60, 1, 86_400) * 1000,
  };
}

export interface CollectorConfig extends CommonConfig {
  /** Public tracking port. WINNOW_COLLECTOR_PORT, default 8080. */
  httpPort: number;
  /** Health and metrics, kept off the public port. WINNOW_COLLECTOR_OPS_PORT, default 9100. */
  opsPort: number;
  /** The classifier's gRPC address. WINNOW_CLASSIFIER_ADDR, default 127.0.0.1:50061. */
  classifierAddress: string;
  /** The configuration service (inside stats). WINNOW_STATS_ADDR, default 127.0.0.1:50062. */
  configAddress: string;
  /** Events per batch sent downstream. WINNOW_BATCH_MAX_EVENTS, default 1000. */
  batchMaxEvents: number;
  /**
   * Bytes of events per batch, at most (a batch holds at least one event). WINNOW_BATCH_MAX_BYTES,
   * default 4 MiB, at most 12 MiB: the services refuse gRPC messages past 16 MiB, and an event may
   * be 16 KiB (the collector's header limit), so a count alone could make a batch too big to send.
   */
  batchMaxBytes: number;
  /** Longest an event waits for its batch. WINNOW_BATCH_MAX_DELAY_MS, default 50. */
  batchMaxDelayMs: number;
  /** Batches sent before the oldest is answered (acknowledged in order all the same). WINNOW_BATCHES_IN_FLIGHT, default 2. */
  batchesInFlight: number;
  /** Where captured events wait until stored downstream. WINNOW_SPOOL_DIR, default ./.winnow-spool (one per replica). */
  spoolDir: string;
  /** Spool size limit; beyond it events are dropped (counted, logged). WINNOW_SPOOL_MAX_BYTES, default 1 GiB. */
  spoolMaxBytes: number;
  /** Spool segment file size. WINNOW_SPOOL_SEGMENT_BYTES, default 64 MiB. */
  spoolSegmentBytes: number;
  /** Answer a request only once its event is fsynced to the spool. WINNOW_CAPTURE_SYNC, default true. */
  captureSync: boolean;
  /** Time allowed to send request headers. WINNOW_HEADERS_TIMEOUT_MS, default 10000. */
  headersTimeoutMs: number;
  /** Time allowed for a whole request. WINNOW_REQUEST_TIMEOUT_MS, default 15000. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. WINNOW_IDLE_TIMEOUT_MS, default 30000. */
  idleTimeoutMs: number;
  /** How often tracking domains are re-read. WINNOW_DOMAIN_REFRESH_MS, default 5000. */
  domainRefreshMs: number;
  /** Tokens older than this many days are refused (0 = never). WINNOW_TOKEN_MAX_AGE_DAYS, default 400. */
  tokenMaxAgeDays: number;
  /**
   * The proxies whose X-Forwarded-For is believed, hop by hop from the socket peer (as proxy-addr
   * does): addresses or CIDRs and the names loopback, linklocal, uniquelocal; or a number of hops.
   * WINNOW_TRUSTED_PROXIES, comma-separated; default empty: nothing is trusted, the address is the
   * socket peer's.
   */
  trustedProxies: string[] | number;
}

export interface ClassifierConfig extends CommonConfig {
  /** WINNOW_CLASSIFIER_GRPC_PORT, default 50061. */
  grpcPort: number;
  /** WINNOW_CLASSIFIER_HTTP_PORT (health, metrics), default 9101. */
  httpPort: number;
  /** WINNOW_STATS_ADDR, default 127.0.0.1:50062. */
  statsAddress: string;
  /** Secret behind the keyed hashes of client addresses (docs/architecture.md). */
  addressKey: string;
}

export type StoreKind = 'embedded' | 'mongodb';

export interface StatsConfig extends CommonConfig {
  /** WINNOW_STATS_GRPC_PORT, default 50062. */
  grpcPort: number;
  /** WINNOW_STATS_HTTP_PORT (health, metrics), default 9102. */
  httpPort: number;
  /** Which store backs the service. WINNOW_STORE, default embedded. */
  store: StoreKind;
  /** Embedded store directory. WINNOW_DATA_DIR, default ./.winnow-data. */
  dataDir: string;
  /** MongoDB connection string, required when WINNOW_STORE=mongodb. MONGODB_URL. */
  mongodbUrl: string | undefined;
  /** Raw events expire after this many days (MongoDB TTL); 0 keeps them. WINNOW_EVENT_RETENTION_DAYS, default 400. */
  eventRetentionDays: number;
  /** Create the demo tenant and tracking domain on first start. WINNOW_DEMO_TENANT, default true. */
  demoTenant: boolean;
  /** Secret behind the keyed hashes of client addresses, for events stored before evidence was (docs/architecture.md). */
  addressKey: string;
  /**
   * The key-encryption key that seals tracking domains' signing keys at rest: a file of 32 bytes in
   * base64. WINNOW_KEY_ENCRYPTION_KEY_FILE (in Kubernetes a Secret mounted as a file); unset, the file
   * key-encryption-key in WINNOW_DATA_DIR, made at first start.
   */
  keyEncryptionKeyFile: string;
  keyEncryptionKeyGenerate: boolean;
  /**
   * Messages the in-memory history holds at most (about 2.5 KB of heap each at 2 events a message); the
   * oldest are forgotten and read back from the store at their next event. WINNOW_HISTORY_MAX_MESSAGES,
   * default 200000.
   */
  historyMaxMessages: number;
  /** Events a reclassification reads and checkpoints at a time. WINNOW_RECLASSIFY_PAGE, default 1000. */
  reclassifyPage: number;
  /** Pause between a reclassification's pages, leaving room for ingest. WINNOW_RECLASSIFY_PAUSE_MS, default 0. */
  reclassifyPauseMs: number;
  /** Worker threads that prepare mails (PrepareEmail), off the service's own thread. WINNOW_PREPARE_THREADS, default 1. */
  prepareThreads: number;
  /** Mails that may wait for a worker beyond those being prepared (then RESOURCE_EXHAUSTED). WINNOW_PREPARE_QUEUE, default 64. */
  prepareQueue: number;
}

function serviceKey(r: EnvReader): string {
  const k = r.required('WINNOW_SERVICE_KEY');
  if (k.length < 32) throw new ConfigError('WINNOW_SERVICE_KEY', 'must be at least 32 characters (use a random value)');
  return k;
}

/**
 * WINNOW_ADDRESS_KEY (at least 32 characters), default the service key: the secret under which
 * client addresses become per-tenant keys. It must stay the same for as long as events are kept,
 * or bursts and fan-out across the change go unseen.
 */
function addressKey(r: EnvReader, common: CommonConfig): string {
  const k = r.string('WINNOW_ADDRESS_KEY', common.serviceKey);
  if (k.length < 32) throw new ConfigError('WINNOW_ADDRESS_KEY', 'must be at least 32 characters (use a random value)');
  return k;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function trustedProxies(env: Env): string[] | number {
  if (env['WINNOW_TRUST_PROXY'] !== undefined) {
    throw new ConfigError('WINNOW_TRUST_PROXY', 'is gone: name the proxies whose X-Forwarded-For to believe in WINNOW_TRUSTED_PROXIES (CIDRs such as 10.0.0.0/8, loopback, or a hop count); docs/collector.md');
  }
  const raw = (env['WINNOW_TRUSTED_PROXIES'] ?? '').trim();
  if (raw === '') return [];
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > 10) throw new ConfigError('WINNOW_TRUSTED_PROXIES', `a hop count must be between 1 and 10, got ${raw}`);
    return hops;
  }
  const list = raw.split(',').map((x) => x.trim()).filter(Boolean);
  for (const entry of list) {
    if (PROXY_NAMES.has(entry)) continue;
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    if (!family || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) {
      throw new ConfigError('WINNOW_TRUSTED_PROXIES', `${JSON.stringify(entry)} is not an address, a CIDR or one of loopback, linklocal, uniquelocal`);
    }
  }
  return list;
}

function common(r: EnvReader): CommonConfig {
  return {
    serviceKey: serviceKey(r),
    bindHost: r.string('WINNOW_BIND_HOST', '127.0.0.1'),
    drainMs: r.int('WINNOW_DRAIN_MS', 5000, 0, 600_000),
    logLevel: r.oneOf('WINNOW_LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    grpcTls: loadGrpcTls(r.env),
    grpcReflection: r.bool('WINNOW_GRPC_REFLECTION', true),
  };
}

export function loadCollectorConfig(env: Env = process.env): CollectorConfig {
  const r = new EnvReader(env);
  return {
    ...common(r),
    httpPort: r.port('WINNOW_COLLECTOR_PORT', 8080),
    opsPort: r.port('WINNOW_COLLECTOR_OPS_PORT', 9100),
    classifierAddress: r.address('WINNOW_CLASSIFIER_ADDR', '127.0.0.1:50061'),
    configAddress: r.address('WINNOW_STATS_ADDR', '127.0.0.1:50062'),
    batchMaxEvents: r.int('WINNOW_BATCH_MAX_EVENTS', 1000, 1, 10_000),
    batchMaxBytes: r.int('WINNOW_BATCH_MAX_BYTES', 4 * 1024 ** 2, 64 * 1024, 12 * 1024 ** 2),
    batchMaxDelayMs: r.int('WINNOW_BATCH_MAX_DELAY_MS', 50, 1, 60_000),
    batchesInFlight: r.int('WINNOW_BATCHES_IN_FLIGHT', 2, 1, 16),
    spoolDir: r.string('WINNOW_SPOOL_DIR', './.winnow-spool'),
    spoolMaxBytes: r.int('WINNOW_SPOOL_MAX_BYTES', 1024 ** 3, 64 * 1024, 2 ** 50),
    spoolSegmentBytes: r.int('WINNOW_SPOOL_SEGMENT_BYTES', 64 * 1024 ** 2, 4 * 1024, 1024 ** 3),
    captureSync: r.bool('WINNOW_CAPTURE_SYNC', true),
    headersTimeoutMs: r.int('WINNOW_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestTimeoutMs: r.int('WINNOW_REQUEST_TIMEOUT_MS', 15_000, 100, 600_000),
    idleTimeoutMs: r.int('WINNOW_IDLE_TIMEOUT_MS', 30_000, 100, 3_600_000),
    domainRefreshMs: r.int('WINNOW_DOMAIN_REFRESH_MS', 5000, 100, 3_600_000),
    tokenMaxAgeDays: r.int('WINNOW_TOKEN_MAX_AGE_DAYS', 400, 0, 36_500),
    trustedProxies: trustedProxies(env),
  };
}

export function loadClassifierConfig(env: Env = process.env): ClassifierConfig {
  const r = new EnvReader(env);
  const c = common(r);
  return {
    ...c,
    grpcPort: r.port('WINNOW_CLASSIFIER_GRPC_PORT', 50061),
    httpPort: r.port('WINNOW_CLASSIFIER_HTTP_PORT', 9101),
    statsAddress: r.address('WINNOW_STATS_ADDR', '127.0.0.1:50062'),
    addressKey: addressKey(r, c),
  };
}

export function loadStatsConfig(env: Env = process.env): StatsConfig {
  const r = new EnvReader(env);
  const store = r.oneOf('WINNOW_STORE', ['embedded', 'mongodb'] as const, 'embedded');
  const c = common(r);
  const dataDir = r.string('WINNOW_DATA_DIR', './.winnow-data');
  return {
    ...c,
    addressKey: addressKey(r, c),
    grpcPort: r.port('WINNOW_STATS_GRPC_PORT', 50062),
    httpPort: r.port('WINNOW_STATS_HTTP_PORT', 9102),
    store,
    dataDir,
    keyEncryptionKeyFile: r.string('WINNOW_KEY_ENCRYPTION_KEY_FILE', join(dataDir, 'key-encryption-key')),
    keyEncryptionKeyGenerate: r.string('WINNOW_KEY_ENCRYPTION_KEY_FILE') === undefined,
    mongodbUrl: store === 'mongodb' ? r.required('MONGODB_URL') : r.string('MONGODB_URL'),
    eventRetentionDays: r.int('WINNOW_EVENT_RETENTION_DAYS', 400, 0, 36_500),
    demoTenant: r.bool('WINNOW_DEMO_TENANT', true),
    historyMaxMessages: r.int('WINNOW_HISTORY_MAX_MESSAGES', 200_000, 100, 10_000_000),
    reclassifyPage: r.int('WINNOW_RECLASSIFY_PAGE', 1000, 1, 100_000),
    reclassifyPauseMs: r.int('WINNOW_RECLASSIFY_PAUSE_MS', 0, 0, 60_000),
    prepareThreads: r.int('WINNOW_PREPARE_THREADS', 1, 1, 16),
    prepareQueue: r.int('WINNOW_PREPARE_QUEUE', 64, 0, 10_000),
  };
}

export interface OperatorConfig extends CommonConfig {
  /** Namespace the operator watches and works in. WINNOW_NAMESPACE, required. */
  namespace: string;
  /** Stats service (configuration API). WINNOW_STATS_ADDR, default 127.0.0.1:50062. */
  statsAddress: string;
  /** Health and metrics. WINNOW_OPERATOR_HTTP_PORT, default 9103. */
  httpPort: number;
  /** ingress | gateway. WINNOW_ROUTE_KIND, default ingress. */
  routeKind: 'ingress' | 'gateway';
  /** Collector Service the routes point at. WINNOW_COLLECTOR_SERVICE, default winnow-collector; port WINNOW_COLLECTOR_SERVICE_PORT, default 80. */
  collectorService: string;
  collectorServicePort: number;
  /** WINNOW_INGRESS_CLASS, optional. */
  ingressClassName: string | undefined;
  /** Gateway for HTTPRoutes: WINNOW_GATEWAY_NAME (default winnow), WINNOW_GATEWAY_NAMESPACE (optional). */
  gatewayName: string;
  gatewayNamespace: string | undefined;
  /** This replica's name in the Lease. POD_NAME, default the host name. */
  identity: string;
  /** Full re-reconcile of everything, even without events. WINNOW_RESYNC_MS, default 60000. */
  resyncMs: number;
  /**
   * The collector refuses tokens older than this (WINNOW_TOKEN_MAX_AGE_DAYS, default 400, 0 = never);
   * a rotated-out signing key is removed once that long has passed. Set it as for the collector.
   */
  tokenMaxAgeDays: number;
}

export function loadOperatorConfig(env: Env = process.env): OperatorConfig {
  const r = new EnvReader(env);
  return {
    ...common(r),
    namespace: r.required('WINNOW_NAMESPACE'),
    statsAddress: r.address('WINNOW_STATS_ADDR', '127.0.0.1:50062'),
    httpPort: r.port('WINNOW_OPERATOR_HTTP_PORT', 9103),
    routeKind: r.oneOf('WINNOW_ROUTE_KIND', ['ingress', 'gateway'] as const, 'ingress'),
    collectorService: r.string('WINNOW_COLLECTOR_SERVICE', 'winnow-collector'),
    collectorServicePort: r.port('WINNOW_COLLECTOR_SERVICE_PORT', 80),
    ingressClassName: r.string('WINNOW_INGRESS_CLASS'),
    gatewayName: r.string('WINNOW_GATEWAY_NAME', 'winnow'),
    gatewayNamespace: r.string('WINNOW_GATEWAY_NAMESPACE'),
    identity: r.string('POD_NAME', env['HOSTNAME'] ?? 'winnow-operator'),
    resyncMs: r.int('WINNOW_RESYNC_MS', 60_000, 100, 3_600_000),
    tokenMaxAgeDays: r.int('WINNOW_TOKEN_MAX_AGE_DAYS', 400, 0, 36_500),
  };
}
