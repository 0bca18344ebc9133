import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { CollectorConfig } from '@winnow/config';
import { jsonLogger, type RunningService } from '@winnow/observability';
import { CollectorModule } from './collector.module';
import { CollectorHost } from './collector.host';

/** Starts the collector; resolves once it listens. */
export async function startCollector(
  config: CollectorConfig,
  logger: LoggerService = jsonLogger('collector', config.logLevel),
): Promise<RunningService> {
  const app = await NestFactory.createApplicationContext(CollectorModule.forConfig(config), { logger, abortOnError: false });
  await app.init();
  const host = app.get(CollectorHost);
  return { name: 'collector', ports: { http: host.httpPort, ops: host.opsPort }, close: () => app.close() };
}
