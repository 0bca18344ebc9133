import { KubeConfig } from '@kubernetes/client-node';
import type { OperatorConfig } from '@winnow/config';
import { bearer, closeClient, createClient, waitForReady } from '@winnow/grpc';
import type { LoggerService } from '@nestjs/common';
import { OpsEndpoints, createRegistry, jsonLogger, startOpsServer, type RunningService } from '@winnow/observability';
import { ConfigService } from '@winnow/proto';
import { Kube } from './kube';
import { Operator } from './operator';

/** Starts the operator against a cluster (in-cluster or kubeconfig by default). */
export async function startOperator(
  config: OperatorConfig,
  kc?: KubeConfig,
  leaseEveryMs?: number,
  logger: LoggerService = jsonLogger('operator', config.logLevel),
): Promise<RunningService & { operator: Operator }> {
  const kubeConfig = kc ?? new KubeConfig();
  if (!kc) kubeConfig.loadFromDefault();
  const registry = createRegistry('operator');
  const configClient = createClient(ConfigService, config.statsAddress, { metadata: bearer(config.serviceKey), tls: config.grpcTls });
  const operator = new Operator(config, new Kube(kubeConfig, config.namespace), configClient, registry, logger);
  const ops = new OpsEndpoints(registry, [{ name: 'stats', check: () => waitForReady(configClient, 1000) }]);
  const http = await startOpsServer(ops, config.bindHost, config.httpPort);
  await operator.start(leaseEveryMs);
  return {
    name: 'operator',
    operator,
    ports: { http: http.port },
    close: async () => {
      ops.startDraining();
      await operator.stop();
      closeClient(configClient);
      await http.close();
    },
  };
}
