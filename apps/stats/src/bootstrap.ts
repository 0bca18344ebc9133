import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { StatsConfig } from '@winnow/config';
import { jsonLogger, type RunningService } from '@winnow/observability';
import { StatsModule } from './stats.module';
import { StatsHost } from './stats.host';

/** Starts the stats service; resolves once it listens. */
export async function startStats(config: StatsConfig, logger: LoggerService = jsonLogger('stats', config.logLevel)): Promise<RunningService> {
  const app = await NestFactory.createApplicationContext(StatsModule.forConfig(config), { logger, abortOnError: false });
  await app.init();
  const host = app.get(StatsHost);
  return { name: 'stats', ports: { grpc: host.grpcPort, http: host.httpPort }, close: () => app.close() };
}
