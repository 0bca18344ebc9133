import { Registry, collectDefaultMetrics } from 'prom-client';

/** A registry for one service, with Node's default metrics and a `service` label on every series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'winnow_' });
  return registry;
}
