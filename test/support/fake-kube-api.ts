import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * An in-process fake of the parts of the Kubernetes API the operator uses, spoken over real HTTP
 * so the real @kubernetes/client-node talks to it: list and watch (with resourceVersion, and 410
 * Gone for expired watches), get, create (409 when it exists), replace (409 on a stale
 * resourceVersion), merge-patch of objects and of the status subresource, and deletion that waits
 * for finalizers. The operator's behaviour is tested against a real kube-apiserver (test/k8s);
 * this fake stays for the faults a real server cannot be made to produce on demand: a 409 on one
 * given write, a watch that expires (410 Gone) or fails with a 500 at a chosen moment.
 */
type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, any>; [k: string]: any };
type Watcher = { collection: string; res: ServerResponse };

const COLLECTION = /^(\/apis\/[^/]+\/[^/]+|\/api\/v1)\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+))?(?:\/(status))?$/;
const KINDS: Record<string, [string, string]> = {
  trackingdomains: ['winnow.dev/v1alpha1', 'TrackingDomain'],
  suppressionsettings: ['winnow.dev/v1alpha1', 'SuppressionSetting'],
  secrets: ['v1', 'Secret'],
  ingresses: ['networking.k8s.io/v1', 'Ingress'],
  httproutes: ['gateway.networking.k8s.io/v1', 'HTTPRoute'],
  leases: ['coordination.k8s.io/v1', 'Lease'],
  events: ['v1', 'Event'],
};

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class FakeKubeApi {
  private server: Server;
  private rv = 1;
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly history: Array<{ rv: number; collection: string; type: string; object: Obj }> = [];
  private watchers: Watcher[] = [];
  private failures: Array<{ method: string; path: RegExp; status: number; times: number }> = [];
  /** Every request, for assertions: "METHOD path". */
  readonly requests: string[] = [];
  port = 0;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers = [];
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }

  /** A client configuration pointing at this fake, for the real @kubernetes/client-node. */
  kubeConfig(namespace: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'x' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The next `times` requests matching method and path get `status`. */
  fail(method: string, path: RegExp, status: number, times = 1): void {
    this.failures.push({ method, path, status, times });
  }

  /** Ends every open watch and forgets history, so resumed watches get 410 Gone and must re-list. */
  expireWatches(): void {
    this.history.splice(0);
    for (const w of this.watchers) w.res.end();
    this.watchers = [];
  }

  get(collection: string, name: string): Obj | undefined {
    const o = this.objects.get(collection)?.get(name);
    return o && structuredClone(o);
  }

  list(collection: string): Obj[] {
    return [...(this.objects.get(collection)?.values() ?? [])].map((o) => structuredClone(o));
  }

  /** Test-side writes, as kubectl would do them. */
  apply(collection: string, obj: Obj): Obj {
    const existing = this.objects.get(collection)?.get(obj.metadata['name']);
    if (!existing) return this.create(collection, obj);
    const next = { ...existing, ...obj, metadata: { ...existing.metadata, ...obj.metadata } };
    if (JSON.stringify(existing['spec']) !== JSON.stringify(obj['spec'])) next.metadata['generation'] = (existing.metadata['generation'] ?? 1) + 1;
    return this.put(collection, next, 'MODIFIED');
  }

  remove(collection: string, name: string): void {
    const o = this.objects.get(collection)?.get(name);
    if (!o) return;
    if ((o.metadata['finalizers'] ?? []).length > 0) {
      o.metadata['deletionTimestamp'] ??= new Date().toISOString();
      this.put(collection, o, 'MODIFIED');
    } else {
      this.objects.get(collection)!.delete(name);
      this.emit(collection, 'DELETED', { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
    }
  }

  private create(collection: string, obj: Obj): Obj {
    const [apiVersion, kind] = KINDS[collection.split('/').pop()!]!;
    const o: Obj = { apiVersion, kind, ...structuredClone(obj) };
    o.metadata = { ...o.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString(), generation: 1 };
    if (!this.objects.has(collection)) this.objects.set(collection, new Map());
    return this.put(collection, o, 'ADDED');
  }

  private put(collection: string, o: Obj, type: string): Obj {
    o.metadata['resourceVersion'] = String(++this.rv);
    if (o.metadata['deletionTimestamp'] && (o.metadata['finalizers'] ?? []).length === 0) {
      this.objects.get(collection)?.delete(o.metadata['name']);
      this.emit(collection, 'DELETED', o);
      return o;
    }
    this.objects.get(collection)!.set(o.metadata['name'], o);
    this.emit(collection, type, o);
    return o;
  }

  private emit(collection: string, type: string, object: Obj): void {
    this.history.push({ rv: this.rv, collection, type, object: structuredClone(object) });
    for (const w of this.watchers) if (w.collection === collection) w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
  }

  private async body(req: IncomingMessage): Promise<any> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    return text ? JSON.parse(text) : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`);
    const fail = this.failures.find((f) => f.method === method && f.path.test(url.pathname) && f.times > 0);
    if (fail) {
      fail.times--;
      return this.status(res, fail.status, fail.status === 409 ? 'Conflict' : 'InternalError', 'injected by the test');
    }
    const m = COLLECTION.exec(url.pathname);
    if (!m) return this.status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const [, , , plural, name, sub] = m;
    const collection = url.pathname.slice(0, url.pathname.indexOf(plural!) + plural!.length);
    const items = this.objects.get(collection) ?? new Map<string, Obj>();
    if (!name) {
      if (method === 'GET' && url.searchParams.get('watch')) {
        const from = Number(url.searchParams.get('resourceVersion') ?? 0);
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        const oldest = this.history[0]?.rv ?? this.rv + 1;
        if (from > 0 && from < oldest - 1) {
          res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
          return;
        }
        for (const h of this.history) if (h.rv > from && h.collection === collection) res.write(`${JSON.stringify({ type: h.type, object: h.object })}\n`);
        const w = { collection, res };
        this.watchers.push(w);
        req.on('close', () => (this.watchers = this.watchers.filter((x) => x !== w)));
        return;
      }
      if (method === 'GET') {
        const [apiVersion, kind] = KINDS[plural!]!;
        return this.send(res, 200, { apiVersion, kind: `${kind}List`, metadata: { resourceVersion: String(this.rv) }, items: [...items.values()] });
      }
      if (method === 'POST') {
        const obj = (await this.body(req)) as Obj;
        if (items.has(obj.metadata['name'])) return this.status(res, 409, 'AlreadyExists', `${plural} "${obj.metadata['name']}" already exists`);
        return this.send(res, 201, this.create(collection, obj));
      }
      return this.status(res, 405, 'MethodNotAllowed', method);
    }
    const existing = items.get(name);
    if (method === 'GET') return existing ? this.send(res, 200, existing) : this.status(res, 404, 'NotFound', `${plural} "${name}" not found`);
    if (!existing) return this.status(res, 404, 'NotFound', `${plural} "${name}" not found`);
    if (method === 'DELETE') {
      this.remove(collection, name);
      return this.send(res, 200, { kind: 'Status', status: 'Success' });
    }
    const body = await this.body(req);
    if (method === 'PUT') {
      if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== existing.metadata['resourceVersion']) {
        return this.status(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version');
      }
      // A replace takes the body's metadata as it is, keeping only the fields the server owns.
      const own = ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp'];
      const next = { ...body, metadata: { ...body.metadata, ...Object.fromEntries(own.filter((k) => existing.metadata[k] !== undefined).map((k) => [k, existing.metadata[k]])) } };
      return this.send(res, 200, this.put(collection, next, 'MODIFIED'));
    }
    if (method === 'PATCH') {
      let next: Obj;
      if (sub === 'status') next = { ...existing, status: mergePatch(existing['status'], body.status) };
      else {
        const { status: _ignored, ...rest } = body as Obj;
        next = mergePatch(existing, rest) as Obj;
        if (JSON.stringify(next['spec']) !== JSON.stringify(existing['spec'])) next.metadata['generation'] = (existing.metadata['generation'] ?? 1) + 1;
      }
      return this.send(res, 200, this.put(collection, next, 'MODIFIED'));
    }
    return this.status(res, 405, 'MethodNotAllowed', method);
  }
}
